// Opening a room at one of its messages (a search result): the room is
// joined if need be, the message brought into its list, scrolled to and
// highlighted a moment. A message a few pages older than those loaded comes
// by paging back (the list stays whole, as scrolling up would make it); one
// further back opens the room there alone: the page holding it and a few
// after it (`history` before its id + AFTER). The room is then `behind`:
// live messages are not shown (the jump button counts them) until scrolling
// down has paged forward to them, or Jump to latest loads the newest page.

import { HISTORY_PAGE, roomKey } from "./protocol.js";

const AFTER = 10; // messages after the one sought in its page
const BACK_PAGE = 200; // the pages older messages come in while paging back to it
const PAGE_BACK_AT_MOST = 600; // further back than this: its page alone
const TARGET_MS = 20000; // a jump not done by then (its room never joined) is dropped

const messageIds = (room) => room.items.filter((i) => i.kind === "message").map((i) => i.message.id);

export class MessageJump {
  // `rooms`: the page's rooms (roomKey -> room); `client()` the ChatClient;
  // `view` the MessageView; `open(name)` opens room `name`, joining it if
  // need be; `current()` the open room's roomKey; `showRoom()` renders the
  // open room again; `messageItem(message)` a message's item for room.items;
  // `error(text)` tells of a problem.
  constructor({ rooms, client, view, open, current, showRoom, messageItem, error }) {
    Object.assign(this, { rooms, client, view, open, current, showRoom, messageItem, error });
    this.target = null; // {key, id, until}: the message to open its room at
    this.asked = new Map(); // ref -> {key, kind: "around"|"forward"|"latest"}: our `history` requests
  }

  // Open room `name` at message `id`.
  goTo(name, id) {
    const key = roomKey(name);
    this.target = { key, id, until: Date.now() + TARGET_MS };
    this.open(name);
    this.step(key);
  }

  waitingFor(key) {
    return [...this.asked.values()].some((asked) => asked.key === key);
  }

  // Room `key` changed (joined, a page came): on with the jump waiting for it.
  step(key) {
    const target = this.target;
    if (!target || target.key !== key) return;
    const room = this.rooms.get(key);
    const client = this.client();
    if (Date.now() > target.until || this.current() !== key || !room) {
      this.target = null; // too late, or the user went elsewhere
      return;
    }
    if (!room.loaded || room.loading || !client?.isJoined(room.name) || this.waitingFor(key)) return;
    const ids = messageIds(room);
    if (ids.includes(target.id)) {
      this.target = null;
      this.view.reveal(target.id);
      return;
    }
    const oldest = room.oldestId ?? ids[0] ?? null;
    const inRange = ids.length && target.id > ids[0] && target.id < ids[ids.length - 1];
    if (inRange || (room.complete && oldest !== null && target.id < oldest)) {
      this.target = null;
      this.error("That message is not there any more.");
      return;
    }
    if (oldest !== null && target.id < oldest && oldest - target.id <= PAGE_BACK_AT_MOST) {
      if (client.history(room.name, oldest, BACK_PAGE) !== null) room.loading = true; // onHistory steps again
      return;
    }
    this.ask(key, room, "around", target.id + AFTER + 1);
  }

  ask(key, room, kind, before) {
    const ref = this.client()?.history(room.name, before, HISTORY_PAGE) ?? null;
    if (ref !== null) this.asked.set(ref, { key, kind });
  }

  // A `history` answer: true if it was one of ours (and is dealt with).
  onHistory(frame) {
    const asked = this.asked.get(frame.ref);
    if (!asked) return false;
    this.asked.delete(frame.ref);
    const room = this.rooms.get(asked.key);
    const messages = Array.isArray(frame.messages) ? frame.messages : [];
    if (!room) return true;
    if (asked.kind === "forward") this.forwarded(asked.key, room, messages);
    else if (asked.kind === "latest") this.place(asked.key, room, frame, null);
    else {
      const target = this.target;
      if (!target || target.key !== asked.key) return true;
      this.target = null;
      if (messages.some((m) => m.id === target.id)) this.place(asked.key, room, frame, target.id);
      else this.error("That message is not there any more.");
    }
    return true;
  }

  // A `history` of ours refused: true if it was one of ours.
  onError(frame) {
    const asked = this.asked.get(frame.ref);
    if (!asked) return false;
    this.asked.delete(frame.ref);
    if (asked.kind === "around") this.target = null;
    return true;
  }

  // The room's list becomes the page in `frame`, shown at message `at`
  // (null: at its end).
  place(key, room, frame, at) {
    const messages = frame.messages;
    if (!messages.length) return;
    room.items = messages.map(this.messageItem);
    room.oldestId = messages[0].id;
    room.complete = frame.more === undefined ? messages.length < HISTORY_PAGE : !frame.more;
    room.behind = messages[messages.length - 1].id < room.liveId;
    room.view = { atBottom: at === null, fromBottom: 0, fresh: 0 };
    if (key !== this.current()) return;
    this.showRoom();
    if (at !== null) this.view.reveal(at);
  }

  // A page after the last one loaded (the room is behind).
  forwarded(key, room, messages) {
    const ids = messageIds(room);
    const last = ids[ids.length - 1] ?? 0;
    const newer = messages.filter((m) => m.id > last).map(this.messageItem);
    room.items.push(...newer);
    const reached = newer.length ? newer[newer.length - 1].message.id : last;
    if (!newer.length || reached >= room.liveId) room.behind = false;
    if (key === this.current()) this.view.appended(newer, false);
  }

  // Scrolled to the end of the open room's list: if it is behind, the next page.
  nearBottom() {
    const key = this.current();
    const room = key && this.rooms.get(key);
    if (!room?.behind || this.waitingFor(key)) return;
    const ids = messageIds(room);
    if (ids.length) this.ask(key, room, "forward", ids[ids.length - 1] + 1 + HISTORY_PAGE);
  }

  // Jump to latest in a room that is behind: its newest page.
  latest(key) {
    const room = this.rooms.get(key);
    if (!room?.behind || [...this.asked.values()].some((a) => a.key === key && a.kind === "latest")) return;
    this.ask(key, room, "latest", undefined);
  }
}
