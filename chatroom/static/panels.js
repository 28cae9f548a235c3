// On a narrow screen (CSS decides when) the open room's Members list is a
// panel over the conversation, opened by Members in the room's header and
// closed by Close, Escape, or opening the room lists' drawer; as the drawer
// does, it closes when a room is opened.

import { $ } from "./dom.js";
import { openDrawer } from "./sidebar.js";

export function setUpMembersPanel() {
  $("members-toggle").addEventListener("click", () => openMembers($("chat").dataset.members !== "open"));
  $("members-close").addEventListener("click", () => {
    openMembers(false);
    $("members-toggle").focus();
  });
  $("rooms-toggle").addEventListener("click", () => openMembers(false));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && $("chat").dataset.members === "open") openMembers(false);
  });
}

export function openMembers(open) {
  $("chat").dataset.members = open ? "open" : "closed";
  $("members-toggle").setAttribute("aria-expanded", String(open));
  if (open) openDrawer(false);
}
