// Service worker of the phone app: keeps the app shell in a cache so the app
// opens with no network after the first visit. Shell files are served from
// the cache and refreshed in the background (stale-while-revalidate), so a new
// release reaches the phone at its second start online (the first fetches it);
// a release that changes the modules' interfaces also bumps CACHE, so the
// whole shell is installed afresh rather than mixed (docs/app.md).
// Forms and surveys are not cached here: they live in PouchDB (IndexedDB).
// API and sync requests are never touched.
//
// The worker is registered with the scope `/app` (no slash), so it answers
// the README's address `/app` as well as everything under `/app/`; the server
// allows that scope with its Service-Worker-Allowed header.

const CACHE = 'sotay-shell-v4';
const SHELL = [
  './',
  'index.html',
  'app.css',
  'manifest.webmanifest',
  'icons/icon-192.png',
  'icons/icon-512.png',
  'vendor/pouchdb.min.js',
  'vendor/logic.js',
  'rules.js',
  'messages.json',
  'js/app.js',
  'js/dom.js',
  'js/expr.js',
  'js/form.js',
  'js/gentle_fetch.js',
  'js/i18n.js',
  'js/photo.js',
  'js/screens.js',
  'js/store.js',
  'js/sync.js',
];

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(CACHE)
      .then((cache) => cache.addAll(SHELL.map((path) => new Request(path, { cache: 'reload' }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

// Where the shell lives, `/app/`, whatever the scope is spelled.
const HOME = new URL('./', self.location).href;

function shellRequest(request) {
  // Every page of the app is the one index.html; the router reads the hash.
  return request.mode === 'navigate' ? new Request(HOME) : request;
}

// The scope `/app` is a plain prefix: it would also cover `/apples`.
function isAppPath(pathname) {
  const home = new URL(HOME).pathname;
  return pathname === home.slice(0, -1) || pathname.startsWith(home);
}

async function staleWhileRevalidate(event) {
  const cache = await caches.open(CACHE);
  const request = shellRequest(event.request);
  const cached = await cache.match(request, { ignoreSearch: true });
  const refresh = fetch(request)
    .then((response) => {
      if (response.ok) cache.put(request, response.clone());
      return response;
    });
  if (cached) {
    event.waitUntil(refresh.catch(() => null));
    return cached;
  }
  return refresh;
}

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (!isAppPath(url.pathname)) return;
  event.respondWith(staleWhileRevalidate(event));
});
