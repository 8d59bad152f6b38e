// Search in the sidebar: a box labelled Search sends the `search` request (docs/CHAT.md
// "Search") and lists the hits, newest first, each with its sender, text and conversation;
// choosing one opens its conversation at that message. `More results` reads the next page.
import { button, element } from './panel.js';

const page_size = 20;

/// The hit's text in words: the message text, or the snippet without its ** marks.
function text_of(hit) {
    if (typeof hit.payload === 'string') {
        return hit.payload;
    }
    return (hit.snippet || '').replace(/\*\*/g, '');
}

export class search_view {
    /// Placed before `next_node`. `label_of(conversation)` names a conversation;
    /// `open(conversation, id)` shows the hit.
    constructor(client, next_node, label_of, open) {
        this.client_ = client;
        this.label_of_ = label_of;
        this.open_ = open;
        this.next_ = '';
        this.query_ = '';
        this.form_ = element('form', 'search');
        this.form_.setAttribute('role', 'search');
        const label = element('label', 'visually-hidden', 'Search');
        this.input_ = element('input');
        this.input_.type = 'search';
        this.input_.id = 'search-input';
        this.input_.placeholder = 'Search';
        label.htmlFor = this.input_.id;
        this.form_.append(label, this.input_);
        this.status_ = element('p', 'search-status');
        this.status_.setAttribute('role', 'status');
        this.results_ = element('ul', 'search-results');
        this.results_.setAttribute('aria-label', 'Search results');
        this.more_ = button('More results', () => this.search(true));
        this.more_.classList.add('quiet');
        this.more_.hidden = true;
        this.clear_ = button('Clear search', () => this.clear());
        this.clear_.classList.add('quiet');
        this.clear_.hidden = true;
        this.box_ = element('div', 'search-box');
        this.box_.append(this.form_, this.status_, this.results_, this.more_, this.clear_);
        next_node.before(this.box_);
        this.form_.addEventListener('submit', (event) => {
            event.preventDefault();
            this.search(false);
        });
        this.input_.addEventListener('keydown', (event) => {
            if (event.key === 'Escape') {
                this.clear();
            }
        });
    }

    remove() {
        this.box_.remove();
    }

    clear() {
        this.input_.value = '';
        this.query_ = '';
        this.next_ = '';
        this.status_.textContent = '';
        this.results_.replaceChildren();
        this.more_.hidden = true;
        this.clear_.hidden = true;
    }

    async search(is_more) {
        if (!is_more) {
            this.query_ = this.input_.value.trim();
            this.next_ = '';
            this.results_.replaceChildren();
        }
        if (this.query_ === '') {
            this.clear();
            return;
        }
        const request = { op: 'search', q: this.query_, limit: page_size };
        if (is_more && this.next_) {
            request.cursor = this.next_;
        }
        this.status_.textContent = 'Searching…';
        let reply;
        try {
            reply = await this.client_.request(request);
        } catch (error) {
            this.status_.textContent = `Search failed: ${error.message}`;
            return;
        }
        const hits = reply.hits || [];
        for (const hit of hits) {
            this.results_.append(this.render_hit(hit));
        }
        this.next_ = reply.next || '';
        this.more_.hidden = !this.next_;
        this.clear_.hidden = false;
        const shown = this.results_.childElementCount;
        this.status_.textContent =
            shown === 0 ? 'No messages found.' : `${shown}${this.next_ ? '+' : ''} found.`;
    }

    render_hit(hit) {
        const item = element('li');
        const where = this.label_of_(hit.conversation);
        const entry = button('', () => this.open_(hit.conversation, hit.id));
        entry.className = 'search-hit';
        entry.append(
            element('span', 'sender', hit.sender),
            element('span', 'where', hit.conversation.startsWith('room/') ? `#${where}` : where),
            element('span', 'text', text_of(hit)),
        );
        item.append(entry);
        return item;
    }
}
