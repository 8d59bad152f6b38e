// Small DOM helpers of the app's panels (settings, search, rooms, room settings): elements built
// with textContent only, and a modal <dialog> with a heading and a Close button.

export function element(tag, class_name, text) {
    const node = document.createElement(tag);
    if (class_name) {
        node.className = class_name;
    }
    if (text !== undefined) {
        node.textContent = text;
    }
    return node;
}

export function button(text, on_click, label) {
    const node = element('button', '', text);
    node.type = 'button';
    if (label) {
        node.setAttribute('aria-label', label);
    }
    node.addEventListener('click', on_click);
    return node;
}

let next_field_id = 1;

/// A labelled field: {row, input}. `kind` is an input type, or 'select' with `options`
/// ([value, words] pairs).
export function field(words, kind = 'text', options = []) {
    const row = element('div', 'field');
    const input = kind === 'select' ? element('select') : element('input');
    if (kind === 'select') {
        for (const [value, text] of options) {
            const option = element('option', '', text);
            option.value = value;
            input.append(option);
        }
    } else {
        input.type = kind;
        input.autocapitalize = 'none';
        input.spellcheck = false;
    }
    input.id = `panel-field-${next_field_id++}`;
    const label = element('label', '', words);
    label.htmlFor = input.id;
    if (kind === 'checkbox') {
        row.classList.add('check');
        row.append(input, label);
    } else {
        row.append(label, input);
    }
    return { row, input };
}

/// A form that runs `on_submit` (async) with its button disabled meanwhile.
export function form(children, submit_words, on_submit, class_name = 'panel-form') {
    const node = element('form', class_name);
    const submit = element('button', '', submit_words);
    submit.type = 'submit';
    node.append(...children, submit);
    node.addEventListener('submit', async (event) => {
        event.preventDefault();
        submit.disabled = true;
        try {
            await on_submit();
        } finally {
            submit.disabled = false;
        }
    });
    return node;
}

/// A modal dialog titled `title`: {dialog, body, status}. `status` is a live line for outcomes.
export function panel(title) {
    const dialog = element('dialog', 'panel');
    const heading = element('h2', '', title);
    heading.id = `panel-title-${next_field_id++}`;
    dialog.setAttribute('aria-labelledby', heading.id);
    const header = element('header', 'panel-header');
    header.append(
        heading,
        button('Close', () => dialog.close()),
    );
    const body = element('div', 'panel-body');
    const status = element('p', 'panel-status');
    status.setAttribute('role', 'status');
    dialog.append(header, status, body);
    document.body.append(dialog);
    return { dialog, body, status };
}
