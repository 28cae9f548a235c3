// The lists beside the conversation: your rooms (unread badges, ×), your
// direct conversations (by the other user's name, with unread badges), all
// rooms (with member counts), the open room's members (with their roles, a
// bot's badge; the moderation controls of moderation.js in the room's
// settings); and, on a narrow screen, the drawer the room lists live in.
// roomgroups.js groups your rooms under Direct, Rooms and Archived.

import { $, botBadge, button, element, plural, userLink } from "./dom.js";
import { roleBadge, roleOf } from "./moderation.js";
import { isDirect, otherUser, roomKey } from "./protocol.js";

function unreadBadge(count) {
  const badge = element("span", "badge", String(count));
  badge.setAttribute("aria-label", `${count} unread`);
  return badge;
}

// A room the user muted (`room.muted`, notify.js): no notifications or sounds.
function mutedMark(item) {
  item.classList.add("muted");
  const mark = element("span", "muted-mark", "muted");
  mark.title = "Muted: no notifications or sounds";
  return mark;
}

// `rooms`: roomKey -> {name, unread, muted}; `current`: a roomKey or null.
export function renderYourRooms(rooms, current, { onOpen, onLeave }) {
  const list = $("joined-rooms");
  list.replaceChildren();
  for (const [key, room] of rooms) {
    const item = element("li", key === current ? "room current" : "room");
    const open = button("room-name", `# ${room.name}`, () => onOpen(key));
    open.title = room.name;
    if (key === current) open.setAttribute("aria-current", "true");
    item.append(open);
    if (room.muted) item.append(mutedMark(item));
    if (room.unread) item.append(unreadBadge(room.unread));
    const leave = button("leave", "×", () => onLeave(key));
    leave.setAttribute("aria-label", `Leave ${room.name}`);
    item.append(leave);
    list.append(item);
  }
}

// `rooms`: roomKey -> {name, unread} of direct rooms; each by the name of
// the user that is not `me`.
export function renderDirectRooms(rooms, current, me, { onOpen, onLeave }) {
  const list = $("direct-rooms");
  list.replaceChildren();
  for (const [key, room] of rooms) {
    const other = otherUser(room.name, me);
    const item = element("li", key === current ? "room direct current" : "room direct");
    item.dataset.user = other;
    const open = button("room-name", other, () => onOpen(key));
    open.title = `Conversation with ${other}`;
    if (key === current) open.setAttribute("aria-current", "true");
    item.append(open);
    if (room.muted) item.append(mutedMark(item));
    if (room.unread) item.append(unreadBadge(room.unread));
    const close = button("leave", "×", () => onLeave(key));
    close.setAttribute("aria-label", `Close the conversation with ${other}`);
    item.append(close);
    list.append(item);
  }
  $("direct-empty").hidden = rooms.size > 0;
}

// `listing`: {rooms: [{room, count, private}], more} from the server; a
// private room (the page's user is in it or invited) is marked so. For a room the
// page is in, the count is its Members list, which presence keeps current.
export function renderAllRooms(listing, rooms, onOpen) {
  const target = $("all-rooms");
  target.replaceChildren();
  for (const { room: name, count, private: locked, direct, archived } of listing.rooms) {
    if (direct || isDirect(name)) continue; // under Direct messages
    const mine = rooms.get(roomKey(name));
    const members = mine?.loaded ? mine.members.length : count;
    const item = element("li", "room");
    const open = button("room-name", `# ${name}`, () => onOpen(name));
    open.title = name;
    item.append(open);
    if (locked) {
      // A lock, and the words for those who cannot see it.
      const mark = element("span", "private-mark");
      const lock = element("span", "lock");
      lock.setAttribute("aria-hidden", "true");
      mark.append(lock, element("span", "visually-hidden", "(private)"));
      mark.title = "Private: for invited users only";
      item.append(mark);
    }
    if (archived) item.append(element("span", "count", "archived"));
    item.append(element("span", "count", plural(members, "member")));
    target.append(item);
  }
  if (listing.more) {
    target.append(element("li", "more-rooms muted", "More rooms: type the start of a name above."));
  }
}

// Each member with their role badge and, for the room's owner and
// moderators, the controls `tools` (a MemberTools) offers (in the room's
// settings, settings.js); focus stays where it was across the redraw, or
// goes where `tools` asks. Another member's name is a link that opens the
// conversation with them (`onUser(user)`). Into `list` (the Members list).
export function renderMembers(room, me, tools, onUser, list = $("members")) {
  const active = document.activeElement;
  const was = list.contains(active) && active.dataset.focus
    ? { user: active.closest("li")?.dataset.user, focus: active.dataset.focus }
    : null;
  const want = tools?.takeFocus() ?? was;
  list.replaceChildren();
  tools?.present(room, (room?.members ?? []).map((m) => m.user));
  for (const member of room?.members ?? []) {
    const item = element("li", member.user === me ? "member me" : "member");
    item.dataset.user = member.user;
    if (member.user === me || !onUser) item.append(element("span", "member-name", member.user));
    else {
      const name = userLink("member-name", member.user, onUser);
      name.dataset.focus = "message";
      item.append(name);
    }
    if (member.bot) item.append(" ", botBadge());
    const badge = roleBadge(roleOf(room, member.user, member.role));
    if (badge) item.append(" ", badge);
    const controls = tools?.tools(room, me, member.user);
    if (controls) item.append(controls);
    list.append(item);
  }
  if (want) {
    const item = [...list.children].find((li) => li.dataset.user === want.user);
    const control = item?.querySelector(`[data-focus="${want.focus}"]`);
    control?.focus();
    if (control instanceof HTMLInputElement) control.setSelectionRange(control.value.length, control.value.length);
  }
}

// The room lists as a drawer on a narrow screen (CSS decides when).
export function setUpDrawer() {
  $("rooms-toggle").addEventListener("click", () => openDrawer($("chat").dataset.drawer !== "open"));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") openDrawer(false);
  });
}

export function openDrawer(open) {
  $("chat").dataset.drawer = open ? "open" : "closed";
  $("rooms-toggle").setAttribute("aria-expanded", String(open));
}
