// Files in the chat (docs/CHAT.md "Files"): the composer's `Attach` button and its `File` input,
// the upload to the same origin's /files with a file token, the message that names the file, and
// a message's files in the timeline: images inline (a blob: URL of the bytes fetched with the
// token, as perch's Content-Security-Policy allows), other files as download links. Only
// textContent and attributes are ever set: nothing a file or a message holds becomes markup.

/// Types a browser shows inline without running anything (perch serves these `inline`).
const image_types = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];
/// A token is asked for again this long before it expires.
const token_margin_ms = 30000;

/// What a message payload says: its text, and the ids of the files it names (`"files"` of a JSON
/// object, as the contract has it). A payload that is no such object is all text.
export function message_content(payload) {
    if (typeof payload !== 'string' || !payload.startsWith('{') || !payload.includes('"files"')) {
        return { text: payload, files: [] };
    }
    try {
        const fields = JSON.parse(payload);
        if (fields && Array.isArray(fields.files)) {
            const files = fields.files.filter((id) => typeof id === 'string' && /^[0-9a-f]{32}$/.test(id));
            return { text: typeof fields.text === 'string' ? fields.text : '', files };
        }
    } catch {
        // Not JSON after all: shown as written.
    }
    return { text: payload, files: [] };
}

/// The payload of a message with `text` naming file `id`.
export function payload_with_file(text, id) {
    return JSON.stringify({ text, files: [id] });
}

/// The file name of a Content-Disposition header (`filename="..."`), or ''.
function file_name_of(disposition) {
    const found = /filename="([^"]*)"/.exec(disposition || '');
    return found ? found[1] : '';
}

export class attachments {
    /// `client` is the chat client (control requests); `on_uploaded(id, name)` sends the message
    /// that names a file just uploaded; `on_error(words)` says why an upload failed.
    constructor(client, on_uploaded, on_error) {
        this.client_ = client;
        this.on_uploaded_ = on_uploaded;
        this.on_error_ = on_error;
        this.token_ = null;
        /// id -> promise of {name, type, url}: each file is fetched once per page.
        this.files_ = new Map();
        /// id -> what the promise gave, once it did (rendering is synchronous).
        this.loaded_ = new Map();
        this.on_loaded_ = () => {};
    }

    /// Adds `Attach` and the `File` input to `composer`, before `before` (the Send button).
    add_to(composer, before) {
        const input = document.createElement('input');
        input.type = 'file';
        input.id = 'attach-file';
        input.className = 'visually-hidden';
        const label = document.createElement('label');
        label.htmlFor = input.id;
        label.className = 'visually-hidden';
        label.textContent = 'File';
        const attach = document.createElement('button');
        attach.type = 'button';
        attach.className = 'attach quiet';
        attach.textContent = 'Attach';
        attach.addEventListener('click', () => input.click());
        input.addEventListener('change', () => {
            const [file] = input.files;
            input.value = '';
            if (file) {
                this.upload(file);
            }
        });
        composer.insertBefore(attach, before);
        composer.insertBefore(label, attach);
        composer.insertBefore(input, attach);
    }

    /// Called when a file of the timeline has been fetched, so the view can draw it.
    set on_loaded(callback) {
        this.on_loaded_ = callback;
    }

    /// A file token of the user (op file_token), asked for again shortly before it expires.
    async token() {
        if (this.token_ && this.token_.expires_at - token_margin_ms > Date.now()) {
            return this.token_.token;
        }
        const reply = await this.client_.request({ op: 'file_token' });
        this.token_ = { token: reply.token, expires_at: Number(reply.expires_at) || 0 };
        return reply.token;
    }

    /// Uploads `file` and, once perch stored it, has the message naming it sent.
    async upload(file) {
        try {
            const answer = await fetch('/files?name=' + encodeURIComponent(file.name), {
                method: 'POST',
                headers: {
                    Authorization: 'Bearer ' + (await this.token()),
                    'Content-Type': file.type || 'application/octet-stream',
                },
                body: file,
            });
            const stored = await answer.json().catch(() => ({}));
            if (!answer.ok || !stored.id) {
                throw new Error(stored.detail || `the upload failed (${answer.status})`);
            }
            await this.on_uploaded_(stored.id, stored.name || file.name);
        } catch (error) {
            this.on_error_(`Not sent: ${error.message}`);
        }
    }

    /// Fetches file `id` once: its name, type and a blob: URL of its bytes.
    load(id) {
        if (!this.files_.has(id)) {
            const loading = (async () => {
                const answer = await fetch('/files/' + id, {
                    headers: { Authorization: 'Bearer ' + (await this.token()) },
                });
                if (!answer.ok) {
                    throw new Error(`unavailable (${answer.status})`);
                }
                const type = (answer.headers.get('Content-Type') || '').split(';')[0].trim();
                const name = file_name_of(answer.headers.get('Content-Disposition')) || id;
                const url = URL.createObjectURL(await answer.blob());
                return { name, type, url };
            })();
            this.files_.set(id, loading);
            loading
                .then((file) => this.loaded_.set(id, file))
                .catch((error) => this.loaded_.set(id, { name: id, error: error.message }))
                .finally(() => this.on_loaded_());
        }
        return this.files_.get(id);
    }

    /// The timeline's view of file `id`: an image (alt text: its name), a download link, or a
    /// line saying it is being loaded or cannot be had.
    render(id) {
        const file = this.loaded_.get(id);
        if (!file) {
            this.load(id);
            const waiting = document.createElement('span');
            waiting.className = 'file loading';
            waiting.textContent = 'loading a file…';
            return waiting;
        }
        if (file.error) {
            const missing = document.createElement('span');
            missing.className = 'file missing';
            missing.textContent = `file ${file.error}`;
            return missing;
        }
        if (image_types.includes(file.type)) {
            const image = document.createElement('img');
            image.className = 'file image';
            image.alt = file.name;
            image.src = file.url;
            return image;
        }
        const link = document.createElement('a');
        link.className = 'file download';
        link.href = file.url;
        link.download = file.name;
        link.textContent = `Download ${file.name}`;
        return link;
    }
}
