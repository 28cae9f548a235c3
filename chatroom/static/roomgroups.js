// The page's rooms in the room list, in groups under their headings:
// Direct (conversations, by the other user's name), Rooms, and Archived
// (rooms whose owner archived them, protocol 1.2: read-only, kept for their
// history). A group with no room is hidden, heading and all.

import { $, button, element } from "./dom.js";
import { isDirect, otherUser } from "./protocol.js";
import { renderDirectRooms, renderYourRooms } from "./sidebar.js";

// Whether `room` (the page's) is archived: its `info` says so once the room
// was joined or changed (`joined`, `room`); before that, the `welcome`'s
// list of the user's rooms (`room.archived`).
export function isArchived(room) {
  if (!room) return false;
  return room.info ? room.info.archived === true : room.archived === true;
}

// `rooms`: roomKey -> the page's rooms; `current`: a roomKey or null;
// `actions`: {onOpen(key), onLeave(key)}.
export function renderRoomGroups(rooms, current, me, actions) {
  const named = new Map();
  const direct = new Map();
  const archived = new Map();
  for (const [key, room] of rooms) {
    if (isArchived(room)) archived.set(key, room);
    else (isDirect(room.name) ? direct : named).set(key, room);
  }
  renderDirectRooms(direct, current, me, actions);
  renderYourRooms(named, current, actions);
  renderArchived(archived, current, me, actions);
  $("direct-group").hidden = direct.size === 0;
  $("rooms-group").hidden = named.size === 0;
  $("archived-group").hidden = archived.size === 0;
}

function renderArchived(rooms, current, me, { onOpen, onLeave }) {
  const list = $("archived-rooms");
  list.replaceChildren();
  for (const [key, room] of rooms) {
    const direct = isDirect(room.name);
    const label = direct ? otherUser(room.name, me) : `# ${room.name}`;
    const item = element("li", key === current ? "room archived current" : "room archived");
    const open = button("room-name", label, () => onOpen(key));
    open.title = `${direct ? `Conversation with ${label}` : room.name} (archived)`;
    if (key === current) open.setAttribute("aria-current", "true");
    item.append(open);
    if (room.unread) {
      const badge = element("span", "badge", String(room.unread));
      badge.setAttribute("aria-label", `${room.unread} unread`);
      item.append(badge);
    }
    const leave = button("leave", "×", () => onLeave(key));
    leave.setAttribute("aria-label", direct ? `Close the conversation with ${label}` : `Leave ${room.name}`);
    item.append(leave);
    list.append(item);
  }
}
