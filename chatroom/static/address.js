// Each room's own address, `/#/room/NAME` (the name URL-encoded; a direct
// room's too, `@a,b`): opening a room puts it in the address bar (a new
// history entry when the user opened it, the same entry otherwise), Back and
// Forward open the room of their entry, and an address opened in a new
// page (a shared link) opens its room once the user is signed in.

import { roomKey } from "./protocol.js";

const PREFIX = "#/room/";
const ROOM_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const DIRECT_NAME = /^@[A-Za-z0-9_.-]{1,32},[A-Za-z0-9_.-]{1,32}$/;

// The room named by `hash` (location.hash), or null.
export function roomInAddress(hash = window.location.hash) {
  if (!hash.startsWith(PREFIX)) return null;
  let name;
  try {
    name = decodeURIComponent(hash.slice(PREFIX.length));
  } catch {
    return null;
  }
  return ROOM_NAME.test(name) || DIRECT_NAME.test(name) ? name : null;
}

const addressOf = (name) => (name ? `${PREFIX}${encodeURIComponent(name)}` : "");

// Show room `name` (null: none) in the address: `push` makes a history
// entry (the user opened it), else the current entry changes. Nothing
// happens when the address already names it (in any case).
export function showInAddress(name, { push = false } = {}) {
  const shown = roomInAddress();
  if (shown === null ? name === null : name !== null && roomKey(shown) === roomKey(name)) return;
  if (name === null && !window.location.hash) return;
  const url = `${window.location.pathname}${window.location.search}${addressOf(name)}`;
  if (push && name !== null) window.history.pushState(null, "", url);
  else window.history.replaceState(null, "", url);
}

// `open(name)` when Back, Forward or an edited address names a room.
export function followAddress(open) {
  window.addEventListener("hashchange", () => {
    const name = roomInAddress();
    if (name !== null) open(name);
  });
}
