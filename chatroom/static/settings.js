// A room's settings panel, opened by Settings in the room's header for its
// owner and moderators: the topic's editor (topic.js), each member with the
// Kick, Ban and moderator-role controls of moderation.js, Invite and Unban,
// the webhooks (hooks.js), and for the owner alone Transfer ownership
// (`transfer`, asked first) and Archive or Unarchive (`archive`), each
// answered by `done` and then a `room` frame with the new `info` (protocol
// 1.2, "People and rooms"). It closes when another room opens or the user
// no longer runs this one; Escape closes it and focus goes back to Settings.

import { $, button, element } from "./dom.js";
import { roleOf } from "./moderation.js";
import { describeError, roomKey } from "./protocol.js";
import { isArchived } from "./roomgroups.js";
import { renderMembers } from "./sidebar.js";

const USER_NAME = /^[A-Za-z0-9_.-]{1,32}$/;
const NOT_CONNECTED = "Not connected; try again once the page is connected.";
const REFUSED = {
  forbidden: "Only the room's owner may do that.",
  not_found: "There is no user by that name.",
  not_member: "You are not in this room any more.",
};

const same = (a, b) => a.toLowerCase() === b.toLowerCase();

export class RoomSettings {
  // `client()` is the page's ChatClient (or null); `tools` the MemberTools
  // of the moderation controls.
  constructor({ client, tools }) {
    Object.assign(this, { client, tools });
    this.room = null; // the open room, while the user runs it
    this.open = false;
    this.confirming = null; // the user name a transfer is being asked for
    this.asked = new Map(); // ref -> what a `transfer` or `archive` of ours asked
    $("settings-toggle").addEventListener("click", () => this.toggle());
    $("settings-close").addEventListener("click", () => this.close(true));
    $("room-settings").addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !event.defaultPrevented) {
        event.stopPropagation();
        this.close(true);
      }
    });
    $("transfer-form").addEventListener("submit", (event) => this.askTransfer(event));
    $("transfer-confirm").addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault(); // the panel stays open
        $("transfer-confirm").querySelector("[data-cancel]")?.click();
      }
    });
    $("archive-toggle").addEventListener("click", () => this.archive());
  }

  // The open `room` (or null), and whether the user runs it: the button is
  // theirs only; the panel closes when another room opens.
  show(room, runs) {
    const mine = runs ? room : null;
    if (this.open && (!mine || (this.room && roomKey(this.room.name) !== roomKey(mine.name)))) this.close(false);
    this.room = mine;
    $("settings-toggle").hidden = !mine;
    this.render();
  }

  toggle() {
    if (this.open) this.close(true);
    else if (this.room) {
      this.open = true;
      this.note("");
      this.confirming = null;
      $("room-settings").hidden = false;
      $("settings-toggle").setAttribute("aria-expanded", "true");
      this.render();
      $("settings-close").focus();
    }
  }

  // `back`: focus goes back to Settings.
  close(back) {
    const was = this.open;
    this.open = false;
    this.confirming = null;
    $("room-settings").hidden = true;
    $("settings-toggle").setAttribute("aria-expanded", "false");
    $("transfer-confirm").replaceChildren();
    $("transfer-confirm").hidden = true;
    if (was && back && !$("settings-toggle").hidden) $("settings-toggle").focus();
  }

  me() {
    return this.client()?.user ?? null;
  }

  // The members with their controls, and the owner's part; while open.
  render() {
    const room = this.room;
    if (!this.open || !room) return;
    const me = this.me();
    $("settings-title").textContent = `Settings of # ${room.name}`;
    renderMembers(room, me, this.tools, null, $("settings-members"));
    const owner = Boolean(me && room.info) && roleOf(room, me) === "owner";
    $("owner-tools").hidden = !owner;
    if (!owner) return;
    const names = $("transfer-members");
    names.replaceChildren();
    for (const member of room.members ?? []) {
      if (!member.bot && !same(member.user, me)) names.append(new Option(member.user));
    }
    const archived = isArchived(room);
    $("archive-toggle").textContent = archived ? "Unarchive room" : "Archive room";
    $("archive-about").textContent = archived
      ? "Archived: its history stays; unarchive it to let members post again."
      : "An archived room keeps its history; nobody can post in it.";
    this.renderConfirm();
  }

  renderConfirm() {
    const box = $("transfer-confirm");
    box.replaceChildren();
    box.hidden = this.confirming === null;
    if (this.confirming === null) return;
    const user = this.confirming;
    const yes = button("danger", "Transfer", () => this.transfer(user));
    yes.setAttribute("aria-label", `Transfer ownership to ${user}`);
    const no = button("secondary", "Cancel", () => {
      this.confirming = null;
      this.renderConfirm();
      $("transfer-user").focus();
    });
    no.dataset.cancel = "";
    box.append(element("span", "", `Make ${user} the owner of # ${this.room.name}? You become a moderator.`), yes, no);
  }

  askTransfer(event) {
    event.preventDefault();
    const user = $("transfer-user").value.trim();
    const me = this.me();
    if (!USER_NAME.test(user)) {
      this.note("User names are 1 to 32 letters, digits, dots, dashes or underscores.", true);
      $("transfer-user").focus();
      return;
    }
    if (me && same(user, me)) {
      this.note("You own it already.", true);
      return;
    }
    this.note("");
    this.confirming = user;
    this.renderConfirm();
    $("transfer-confirm").querySelector("button")?.focus();
  }

  transfer(user) {
    const room = this.room;
    this.confirming = null;
    this.renderConfirm();
    if (!room) return;
    const ref = this.client()?.request({ type: "transfer", room: room.name, user });
    if (ref == null) this.note(NOT_CONNECTED, true);
    else {
      this.asked.set(ref, { type: "transfer", room: room.name, user });
      this.note(`Transferring # ${room.name} to ${user}…`);
    }
  }

  archive() {
    const room = this.room;
    if (!room) return;
    const archived = !isArchived(room);
    const ref = this.client()?.request({ type: "archive", room: room.name, archived });
    if (ref == null) this.note(NOT_CONNECTED, true);
    else this.asked.set(ref, { type: "archive", room: room.name, archived });
  }

  note(text, error = false) {
    $("owner-note").textContent = text;
    $("owner-note").classList.toggle("error", error);
  }

  // -- the server's answers -------------------------------------------------------

  // A `done`; true if it answered a request of ours here.
  onDone(frame) {
    const asked = this.asked.get(frame.ref);
    if (!asked) return false;
    this.asked.delete(frame.ref);
    if (asked.type === "transfer") {
      $("transfer-user").value = "";
      this.note(`${asked.user} is now the owner of # ${asked.room}.`);
    } else this.note(asked.archived ? `Archived # ${asked.room}.` : `Unarchived # ${asked.room}.`);
    return true;
  }

  // An `error` for a `transfer` or `archive` of ours.
  onError(frame) {
    const asked = this.asked.get(frame.ref) ?? frame.request ?? {};
    this.asked.delete(frame.ref);
    const why = REFUSED[frame.code] || describeError(frame.code, frame.message);
    const what =
      asked.type === "transfer"
        ? `transfer # ${asked.room} to ${asked.user}`
        : `${asked.archived === false ? "unarchive" : "archive"} # ${asked.room}`;
    this.note(`Could not ${what}. ${why}`, true);
  }
}
