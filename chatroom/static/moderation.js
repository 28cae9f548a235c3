// Moderation in the page: each member's role (from the room's `info`), what
// the signed-in user may do to whom, and the Kick, Ban and moderator-role
// controls of the Members list with the in-page reason of a kick or ban.
// The server decides; this only offers what its rules allow: the owner and
// moderators kick and ban, moderators members only, nobody the owner; only
// the owner gives and takes the moderator role. Every control carries
// `data-focus`, so a redraw of the list can put focus back.

import { button, element } from "./dom.js";

export const MAX_TOPIC = 200;
export const MAX_REASON = 200;

const same = (a, b) => typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();

// "owner", "moderator" or "member". From the room's `info` when the page has
// it (a role change comes as a `room` event, not as a new member list), else
// as listed (`M.role`).
export function roleOf(room, user, listed = "member") {
  const info = room?.info;
  if (!info) return listed;
  if (same(info.owner, user)) return "owner";
  if (Array.isArray(info.moderators) && info.moderators.some((m) => same(m, user))) return "moderator";
  return "member";
}

// Whether `user` is the owner or a moderator of `room`.
export const runs = (room, user) => Boolean(room?.info) && roleOf(room, user) !== "member";

// What `me` may do to `user` in `room`: `remove` (kick or ban) and `role`,
// the role the owner may give them ("moderator", or "member" to take it
// back), or null.
export function allowed(room, me, user) {
  const none = { remove: false, role: null };
  if (!me || same(me, user) || !room?.info) return none;
  const mine = roleOf(room, me);
  const theirs = roleOf(room, user);
  if (mine === "member" || theirs === "owner") return none;
  if (mine === "moderator") return { remove: theirs === "member", role: null };
  return { remove: true, role: theirs === "member" ? "moderator" : "member" };
}

// The role as a small badge with words (none for a plain member).
export function roleBadge(role) {
  if (role !== "owner" && role !== "moderator") return null;
  const badge = element("span", `role role-${role}`, role === "owner" ? "owner" : "mod");
  badge.title = role === "owner" ? "Owner of this room" : "Moderator of this room";
  return badge;
}

function tool(text, label, focus, onClick) {
  const node = button("tool", text, onClick);
  node.setAttribute("aria-label", label);
  node.title = label;
  node.dataset.focus = focus;
  return node;
}

let nextId = 1;

export class MemberTools {
  // `onRemove(room, user, ban, reason)` and `onRole(room, user, role)`
  // answer true when sent; `redraw()` renders the Members list again.
  constructor({ onRemove, onRole, redraw }) {
    Object.assign(this, { onRemove, onRole, redraw });
    this.asking = null; // {room, user, ban, draft}: the reason form open
    this.focus = null; // {user, focus}: where focus goes after the next redraw
  }

  isAsking(room, user) {
    return this.asking?.room === room && same(this.asking.user, user);
  }

  // The controls for `user` in `room` (the reason form while it is open), or null.
  tools(room, me, user) {
    const may = allowed(room, me, user);
    if (!may.remove && !may.role) return null;
    if (may.remove && this.isAsking(room, user)) return this.reasonForm(room, user);
    const box = element("div", "member-tools");
    if (may.remove) {
      box.append(
        tool("Kick", `Kick ${user}`, "kick", () => this.ask(room, user, false)),
        tool("Ban", `Ban ${user}`, "ban", () => this.ask(room, user, true)),
      );
    }
    if (may.role === "moderator") {
      box.append(tool("Moderator", `Make ${user} moderator`, "role", () => this.onRole(room, user, "moderator")));
    } else if (may.role === "member") {
      box.append(tool("Remove", `Remove ${user} as moderator`, "role", () => this.onRole(room, user, "member")));
    }
    return box;
  }

  reasonForm(room, user) {
    const state = this.asking;
    const verb = state.ban ? "Ban" : "Kick";
    const form = element("form", "reason");
    form.setAttribute("aria-label", `${verb} ${user}?`);
    const id = `reason-${nextId++}`;
    const label = element("label", "", "Reason (optional)");
    label.htmlFor = id;
    const input = element("input");
    input.id = id;
    input.maxLength = MAX_REASON;
    input.autocomplete = "off";
    input.value = state.draft;
    input.dataset.focus = "reason";
    input.addEventListener("input", () => (state.draft = input.value));
    const go = element("button", "danger", verb);
    go.type = "submit";
    go.dataset.focus = "go";
    const cancel = button("secondary", "Cancel", () => this.close(true));
    cancel.dataset.focus = "cancel";
    const row = element("div", "reason-actions");
    row.append(go, cancel);
    form.append(label, input, row);
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        this.close(true);
      }
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (this.onRemove(room, state.user, state.ban, input.value.trim())) this.close(false);
      else input.focus();
    });
    return form;
  }

  ask(room, user, ban) {
    this.asking = { room, user, ban, draft: "" };
    this.focus = { user, focus: "reason" };
    this.redraw();
  }

  // Close the reason form; `back`: focus its Kick or Ban button again.
  close(back) {
    const asked = this.asking;
    if (!asked) return;
    this.asking = null;
    this.focus = back ? { user: asked.user, focus: asked.ban ? "ban" : "kick" } : null;
    this.redraw();
  }

  // The members of the open `room` now: a reason form for one who left goes.
  present(room, users) {
    if (this.asking?.room === room && !users.some((user) => same(user, this.asking.user))) {
      this.asking = null;
    }
  }

  // Where focus should go after this redraw (once), or null.
  takeFocus() {
    const focus = this.focus;
    this.focus = null;
    return focus;
  }
}
