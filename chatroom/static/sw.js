// The service worker (served at /sw.js, so its scope is the whole site): it
// keeps the page's own files (the page, its modules, styles, manifest and
// icons) so that the page opens without a network and says it is
// reconnecting. Network first: online, every file comes from the server as
// before (revalidated by its ETag, so a new version shows at once) and the
// copy kept here is refreshed; only when the server cannot be reached is
// the kept copy used. Nothing else is ever kept or answered here: not
// /api/ (tokens, messages, files), not /ws, not webhooks.

const CACHE = "chatroom-page-1";
// Kept at install; the page sends the rest of what it loaded (offline.js).
const CORE = ["/", "/static/app.js", "/static/app.css", "/static/manifest.webmanifest", "/static/icon.svg"];

// Only the page and its static files: the same origin, GET, and `/` or /static/.
function isPageFile(url) {
  return url.origin === self.location.origin && (url.pathname === "/" || url.pathname.startsWith("/static/"));
}

async function keep(cache, url) {
  try {
    const response = await fetch(url, { cache: "no-cache" });
    if (response.ok) await cache.put(url, response);
  } catch {
    // Offline meanwhile: kept the next time the page loads.
  }
}

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => Promise.all(CORE.map((path) => keep(cache, path))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((name) => name !== CACHE).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

// {cache: [url...]} from the page: keep those of its files; then answer on
// the port given, so the page knows it will open offline.
self.addEventListener("message", (event) => {
  const urls = Array.isArray(event.data?.cache) ? event.data.cache : [];
  const wanted = [];
  for (const text of urls) {
    try {
      const url = new URL(text, self.location.origin);
      if (isPageFile(url)) wanted.push(url.pathname);
    } catch {
      // not a URL: nothing to keep
    }
  }
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => Promise.all([...new Set(wanted)].map((path) => keep(cache, path))))
      .then(() => event.ports[0]?.postMessage({ kept: wanted.length })),
  );
});

self.addEventListener("fetch", (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== "GET" || !isPageFile(url)) return; // the network's, untouched
  event.respondWith(networkFirst(request, url));
});

async function networkFirst(request, url) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(url.pathname, response.clone());
    return response;
  } catch (error) {
    const kept = await cache.match(url.pathname);
    if (kept) return kept;
    throw error;
  }
}
