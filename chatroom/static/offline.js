// The page as an app: it registers the service worker (/sw.js, sw.js here),
// which keeps the page's files so that it opens without a network, and
// hands it the files this page loaded (its modules among them); once they
// are kept, <html data-offline="ready">. While the browser is offline a
// note under the room's header says so (the header's status says
// "reconnecting…" meanwhile, as after any drop).

const note = document.getElementById("offline-note");

function showOffline() {
  if (note) note.hidden = navigator.onLine !== false;
}

window.addEventListener("online", showOffline);
window.addEventListener("offline", showOffline);
showOffline();

// The page's own files as loaded: the page itself and /static/.
function pageFiles() {
  const files = new Set(["/"]);
  for (const entry of performance.getEntriesByType("resource")) {
    const url = new URL(entry.name);
    if (url.origin === window.location.origin && url.pathname.startsWith("/static/")) files.add(url.pathname);
  }
  return [...files];
}

async function register() {
  if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
  try {
    await navigator.serviceWorker.register("/sw.js", { scope: "/" });
    const ready = await navigator.serviceWorker.ready;
    const channel = new MessageChannel();
    channel.port1.onmessage = () => (document.documentElement.dataset.offline = "ready");
    ready.active?.postMessage({ cache: pageFiles() }, [channel.port2]);
  } catch {
    // No worker (a private window, a policy): the page works online as before.
  }
}

if (document.readyState === "complete") register();
else window.addEventListener("load", register, { once: true });
