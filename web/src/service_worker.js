// The app's service worker (served as /sw.js): keeps the app's own files so that the app opens
// without the network and can be installed to a home screen. It never touches /mqtt or any
// other origin; chat data always comes live over MQTT.
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
