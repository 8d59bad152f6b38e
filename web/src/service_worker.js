// The app's service worker (served as /sw.js): keeps the app's own files so that the app opens
// without the network and can be installed to a home screen, and shows the Web Push
// notifications perch sends while none of the user's devices is connected. It never touches
// /mqtt or any other origin; chat data always comes live over MQTT.
/* global PERCH_APP_FILES, PERCH_CACHE_NAME */
const app_files = PERCH_APP_FILES;
const cache_name = PERCH_CACHE_NAME;

self.addEventListener('install', (event) => {
    event.waitUntil(
        caches
            .open(cache_name)
            .then((cache) => cache.addAll(app_files))
            .then(() => self.skipWaiting()),
    );
});

// A new build's worker drops the files of the builds before it.
self.addEventListener('activate', (event) => {
    event.waitUntil(
        caches
            .keys()
            .then((names) =>
                Promise.all(
                    names.filter((name) => name !== cache_name).map((name) => caches.delete(name)),
                ),
            )
            .then(() => self.clients.claim()),
    );
});

self.addEventListener('fetch', (event) => {
    const request = event.request;
    const url = new URL(request.url);
    if (
        request.method !== 'GET' ||
        url.origin !== self.location.origin ||
        url.pathname === '/mqtt'
    ) {
        return;
    }
    if (url.pathname.startsWith('/assets/')) {
        // Named by their content: a cached copy is always right.
        event.respondWith(caches.match(request).then((cached) => cached || fetch(request)));
        return;
    }
    // The page and the manifest: the server's when it answers, so a new build shows at once.
    const fallback = request.mode === 'navigate' ? '/' : request;
    event.respondWith(
        fetch(request).catch(() =>
            caches.match(fallback).then((cached) => cached || Response.error()),
        ),
    );
});

// A notification from perch (docs/CHAT.md "Web Push"): {"title","body","conversation"}, the body
// the message text only when the user allowed previews. One notification per conversation: a
// newer one replaces the one before.
self.addEventListener('push', (event) => {
    let shown = {};
    try {
        shown = event.data ? event.data.json() : {};
    } catch {
        shown = { body: event.data ? event.data.text() : '' };
    }
    const conversation = typeof shown.conversation === 'string' ? shown.conversation : '';
    event.waitUntil(
        self.registration.showNotification(shown.title || 'perch', {
            body: shown.body || 'New message',
            icon: '/icon.svg',
            tag: conversation || 'perch',
            data: { conversation },
        }),
    );
});

// A click opens the app at the conversation: a window of the app already open is focused and
// told which; otherwise a new one opens with it in the address.
self.addEventListener('notificationclick', (event) => {
    event.notification.close();
    const conversation = (event.notification.data && event.notification.data.conversation) || '';
    event.waitUntil(
        self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((windows) => {
            const open = windows.find(
                (client) => new URL(client.url).origin === self.location.origin,
            );
            if (open) {
                open.postMessage({ type: 'open-conversation', conversation });
                return open.focus();
            }
            const hash = conversation ? `#conversation=${encodeURIComponent(conversation)}` : '';
            return self.clients.openWindow(`/${hash}`);
        }),
    );
});
