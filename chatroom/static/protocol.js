// chatroom protocol 1.1 for the browser: the WebSocket session and the HTTP
// calls, with no DOM access. Read it next to docs/protocol.md.
//
// ChatClient keeps one connection up: it sends `hello` first, rejoins every
// room it was asked to join with `since` (the last message id it saw) after a
// reconnect, and drops messages it has already delivered, so a page misses
// nothing and shows nothing twice. A quiet server is pinged; one that does
// not answer is dropped and reconnected to. Every request carries a `ref`,
// so an error can be traced to the request (and room) that caused it.
// Events (EventTarget, `detail` is the frame): `status`, `welcome`, `joined`,
// `left`, `message`, `sent` (the server stored a send of ours carrying a
// `cid`; possibly one already delivered), `presence`, `members`, `rooms`,
// `history`, `edited` and `deleted` (a message changed, for every member;
// ours carries the request's `ref`), `room` (a room's `info` changed),
// `kicked` (we were kicked or banned from a room: no longer a member),
// `done` (a request succeeded: moderation, a command, a webhook removed)
// and `invited` (an invitation we sent went out), both with `request` when
// known, `invitation` (someone invited us to a private room), `error` (with
// `request`: {type, room, cid, id, text, user, name, args} when known) and
// `unauthorized`. Conversations (1.1):
// `stray` (a message for a room not joined on this connection: a direct
// room's messages reach both users' every connection; it is not marked as
// delivered, so the room's `joined` still brings it), `typing` (another
// member is typing) and `read` (the user's read marker moved, here or on
// another device). Catching up (1.2): a rejoin's `joined` carries
// `changes`, the `edited` and `deleted` frames missed meanwhile, and
// `welcome` the `invitations` not acted on yet. Bots (1.2): `commands`
// (what can be invoked, with `request`) and `ephemeral` (a bot's answer for
// us alone, never stored); a room's webhooks (1.2): `hook` (one just made,
// its URL shown once) and `hooks` (the list), both with `request`; search
// (1.2): `results` (its frame carries the search's `ref`); reactions
// (1.2): `reactions` (a message's whole set, also among `changes`);
// mentions and people (1.2): `mention` (someone named us in a message of
// one of our rooms) and `users` (a page of the directory, with the
// request's `ref`). Room
// names are compared without regard to case: roomKey(); directRoomName()
// names the direct room of two users.

export const MAX_TEXT = 4000;
export const HISTORY_PAGE = 50;

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 10000;
const WELCOME_WITHIN_MS = 10000; // from opening the socket
const PING_AFTER_MS = 10000; // of silence from the server
const PONG_WITHIN_MS = 5000;
const CLOSE_UNAUTHORIZED = 4401;

export const roomKey = (name) => name.toLowerCase();

// The direct room of two users: `@` and both names, sorted without regard
// to case, joined by a comma (the server's spelling may differ in case).
export function directRoomName(user, other) {
  const [first, second] = [user, other].sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1));
  return `@${first},${second}`;
}

export const isDirect = (name) => name.startsWith("@");

// Whether message `message` mentions `user` (1.2: MSG carries `mentions`,
// the users named `@U` in its text whom the server knows).
export function mentionsOf(message, user) {
  if (!user || !Array.isArray(message?.mentions)) return false;
  const name = user.toLowerCase();
  return message.mentions.some((u) => typeof u === "string" && u.toLowerCase() === name);
}

// The other user of the direct room `name`, for `me`.
export function otherUser(name, me) {
  const [first, second] = name.slice(1).split(",");
  return first.toLowerCase() === me?.toLowerCase() ? second : first;
}

export class ChatClient extends EventTarget {
  constructor(url, token) {
    super();
    this.url = url;
    this.token = token;
    this.user = null;
    this.status = "offline";
    this.socket = null;
    this.welcomed = false; // on the current socket
    this.connection = 0; // counts sockets: a join is sent once per connection
    this.stopped = false;
    this.backoffMs = BACKOFF_FIRST_MS;
    this.retryTimer = null;
    this.watchdog = null; // drops a connection that went silent
    // roomKey -> {name, lastId (of the last message delivered, 0: none),
    //             sentOn / joinedOn (connection numbers),
    //             creating (a `create` of ours not answered yet)}
    this.rooms = new Map();
    this.requests = new Map(); // ref -> {type, room, cid, id, text}, until answered
    this.nextRef = 1;
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.watchdog);
    const socket = this.socket;
    this.socket = null;
    if (socket) socket.close(1000, "bye");
    this.setStatus("offline");
  }

  open() {
    this.setStatus("connecting");
    const socket = new WebSocket(this.url);
    this.socket = socket;
    this.connection += 1;
    this.welcomed = false;
    this.requests.clear();
    socket.onopen = () => this.sendFrame({ type: "hello", token: this.token });
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      this.receive(event.data);
      this.heard();
    };
    socket.onclose = (event) => this.closed(socket, event.code);
    this.expectWithin(WELCOME_WITHIN_MS);
  }

  // Anything from the server shows the connection lives: ping after a quiet
  // PING_AFTER_MS, and give up PONG_WITHIN_MS later.
  heard() {
    if (!this.welcomed) return; // WELCOME_WITHIN_MS still runs
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      this.sendFrame({ type: "ping" });
      this.expectWithin(PONG_WITHIN_MS);
    }, PING_AFTER_MS);
  }

  expectWithin(ms) {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this.drop(), ms);
  }

  // A dead connection: do not wait for its closing handshake.
  drop() {
    const socket = this.socket;
    if (!socket) return;
    socket.onclose = socket.onmessage = null;
    socket.close();
    this.closed(socket, 1006);
  }

  closed(socket, code) {
    if (this.socket !== socket) return;
    clearTimeout(this.watchdog);
    this.socket = null;
    this.welcomed = false;
    if (code === CLOSE_UNAUTHORIZED) {
      this.stopped = true;
      this.setStatus("offline");
      this.emit("unauthorized", { code });
      return;
    }
    if (this.stopped) return;
    this.setStatus("reconnecting");
    const delay = this.backoffMs * (0.75 + Math.random() / 2);
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  setStatus(status) {
    this.status = status;
    this.emit("status", { status });
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  sendFrame(frame) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  // A request after `welcome`, with a fresh ref; the ref, or null if offline.
  request(frame) {
    const ref = this.nextRef++;
    if (!this.welcomed || !this.sendFrame({ ...frame, ref })) return null;
    const { type, room, cid, id, text, user, name, args } = frame;
    const kept = type === "edit" ? text : undefined; // (a send's is in pending.js)
    this.requests.set(ref, { type, room, cid, id, text: kept, user, name, args });
    return ref;
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    const request = this.requests.get(frame.ref);
    this.requests.delete(frame.ref);
    const room = typeof frame.room === "string" ? this.rooms.get(roomKey(frame.room)) : null;
    switch (frame.type) {
      case "welcome":
        this.user = frame.user;
        this.backoffMs = BACKOFF_FIRST_MS;
        this.welcomed = true;
        this.setStatus("online");
        // A `create` cut off by the drop may not have happened: the page says
        // so (a `join` could make the room public).
        for (const [key, room] of this.rooms) {
          if (!room.creating) continue;
          this.rooms.delete(key);
          const request = { type: "create", room: room.name };
          this.emit("error", { type: "error", code: "interrupted", request });
        }
        this.emit("welcome", frame); // the page may join, forget and leave here
        for (const key of this.rooms.keys()) this.sendJoin(key);
        break;
      case "joined": {
        if (!room) break; // left meanwhile
        room.name = frame.room; // the server's spelling
        room.joinedOn = this.connection;
        room.creating = false;
        // A truncated history starts afresh: the page restarts the room's list.
        if (frame.truncated) room.lastId = 0;
        this.emit("joined", { ...frame, history: this.accept(room, frame.history) });
        break;
      }
      case "message":
        // Not joined here (yet): a direct room's message; `joined` brings it.
        if (!room || room.joinedOn !== this.connection) {
          this.emit("stray", frame);
          break;
        }
        // Our own copy carries the send's ref (and, from a 1.1 server, its cid).
        if (request?.cid) this.emit("sent", { ...frame, cid: request.cid });
        else if (frame.cid !== undefined && frame.user === this.user) this.emit("sent", frame);
        if (this.accept(room, [frame]).length) this.emit("message", frame);
        break;
      case "left":
        this.emit("left", frame);
        break;
      case "pong":
        break;
      case "error":
        if (request?.type === "create" || request?.type === "direct") {
          this.rooms.delete(roomKey(request.room));
        }
        this.emit("error", { ...frame, request });
        break;
      case "done":
      case "invited":
      case "commands":
      case "hook":
      case "hooks":
        this.emit(frame.type, { ...frame, request });
        break;
      default:
        this.emit(frame.type, frame);
    }
  }

  // Messages not yet delivered to the page, oldest first.
  accept(room, messages) {
    const fresh = [];
    for (const message of messages) {
      if (message.id > room.lastId) {
        fresh.push(message);
        room.lastId = message.id;
      }
    }
    return fresh;
  }

  // Join now if connected, and again after every reconnect, until forget().
  join(name) {
    const key = roomKey(name);
    if (!this.rooms.has(key)) this.rooms.set(key, { name, lastId: 0, sentOn: 0, joinedOn: 0 });
    this.sendJoin(key);
  }

  // Make the room `name` (`isPrivate`: for the invited only; `topic` may be
  // "") and join it: `joined`, or `error` (`conflict`: the name is taken).
  // Then rejoined like any room. Only when connected; the ref, or null.
  create(name, isPrivate, topic) {
    const key = roomKey(name);
    if (!this.welcomed || this.rooms.has(key)) return null;
    const ref = this.request({ type: "create", room: name, private: isPrivate, topic });
    if (ref !== null) {
      this.rooms.set(key, { name, lastId: 0, sentOn: this.connection, joinedOn: 0, creating: true });
    }
    return ref;
  }

  // Open the direct room `name` of the user and `user`: `joined`, or
  // `error` (`not_found`: no such user). Then rejoined like any room. The
  // ref; offline (or already asked for), a `join` by name goes when it can.
  direct(user, name) {
    const key = roomKey(name);
    if (!this.welcomed || this.rooms.has(key)) {
      this.join(name);
      return null;
    }
    const ref = this.request({ type: "direct", user });
    if (ref === null) {
      this.join(name);
      return null;
    }
    this.requests.get(ref).room = name;
    this.rooms.set(key, { name, lastId: 0, sentOn: this.connection, joinedOn: 0 });
    return ref;
  }

  // Tell the other members we are typing (the page keeps to one every 2 s).
  typing(room) {
    return this.isJoined(room) ? this.request({ type: "typing", room }) : null;
  }

  // Move our read marker in `room` to message `id`: `read` comes back.
  markRead(room, id) {
    return this.isJoined(room) ? this.request({ type: "read", room, id }) : null;
  }

  sendJoin(key) {
    const room = this.rooms.get(key);
    if (!this.welcomed || room.sentOn === this.connection) return;
    room.sentOn = this.connection;
    const since = room.lastId ? { since: room.lastId } : {};
    this.request({ type: "join", room: room.name, ...since });
  }

  isJoined(name) {
    const room = this.rooms.get(roomKey(name));
    return Boolean(room && this.welcomed && room.joinedOn === this.connection);
  }

  forget(name) {
    this.rooms.delete(roomKey(name));
  }

  leave(name) {
    this.forget(name);
    return this.request({ type: "leave", room: name });
  }

  // Only into a room joined on this connection; the ref, or null. `files`
  // (1.2): the ids of files uploaded to the room, sent with the text;
  // `replyTo` (1.2): the id of the message it answers, or null.
  send(room, text, cid, files = [], replyTo = null) {
    if (!this.isJoined(room)) return null;
    const frame = { type: "send", room, text, cid };
    if (files.length) frame.files = files;
    if (replyTo !== null) frame.reply_to = replyTo;
    return this.request(frame);
  }

  // Put our reaction `emoji` on message `id` (`on`), or take it off (1.2):
  // every member gets `reactions`, the message's whole set. The ref, or null.
  react(room, id, emoji, on) {
    return this.isJoined(room) ? this.request({ type: "react", room, id, emoji, on }) : null;
  }

  // Change the text of our message `id`: every member gets `edited`.
  // Only in a room joined on this connection; the ref, or null.
  edit(room, id, text) {
    return this.isJoined(room) ? this.request({ type: "edit", room, id, text }) : null;
  }

  // Delete our message `id` (a moderator's or owner's, anyone's): every
  // member gets `deleted`, and history keeps it as a tombstone. The ref, or null.
  deleteMessage(room, id) {
    return this.isJoined(room) ? this.request({ type: "delete", room, id }) : null;
  }

  // Moderation (the owner's and moderators'; the server decides): the
  // room's topic, a member's role (the owner's alone), kick and ban. Only in
  // a room joined on this connection; the ref, or null. Each is answered
  // with `done`, or `error`.
  setTopic(room, topic) {
    return this.isJoined(room) ? this.request({ type: "topic", room, topic }) : null;
  }

  setRole(room, user, role) {
    return this.isJoined(room) ? this.request({ type: "role", room, user, role }) : null;
  }

  // Invite `user` to the private `room` (answered with `invited`); lift
  // `user`'s ban from `room` (`done`).
  invite(room, user) {
    return this.isJoined(room) ? this.request({ type: "invite", room, user }) : null;
  }

  unban(room, user) {
    return this.isJoined(room) ? this.request({ type: "unban", room, user }) : null;
  }

  // Turn down the invitation to `room` (1.2): the server forgets it (`done`).
  decline(room) {
    return this.request({ type: "decline", room });
  }

  // Kick `user` out of `room` (`ban`: and keep them out); `reason` may be "".
  remove(room, user, ban, reason) {
    if (!this.isJoined(room)) return null;
    return this.request({ type: ban ? "ban" : "kick", room, user, reason });
  }

  // Who is in `room` now: `members` (M carries `bot` for bots, 1.2).
  members(room) {
    return this.isJoined(room) ? this.request({ type: "members", room }) : null;
  }

  // Bots' commands (1.2): what can be invoked now (`commands`), and
  // invoking `name` with `args` in `room` (`done`, or `error` `not_found`
  // when no bot holds it; the bot's answer comes as a message or an
  // `ephemeral`). The ref, or null.
  listCommands() {
    return this.request({ type: "commands" });
  }

  command(room, name, args) {
    return this.isJoined(room) ? this.request({ type: "command", room, name, args }) : null;
  }

  // A room's webhooks (1.2, its owner's and moderators'): the list
  // (`hooks`), a new one named `name` (`hook`, with its URL; with `target`,
  // an outgoing one, with its secret too), and removing hook `id` (`done`).
  listHooks(room) {
    return this.request({ type: "hooks", room });
  }

  addHook(room, name, target = null) {
    return this.request(target ? { type: "hook", room, name, target } : { type: "hook", room, name });
  }

  removeHook(room, id) {
    return this.request({ type: "unhook", room, id });
  }

  // The `limit` messages just before `before` (undefined: the latest).
  history(room, before, limit = HISTORY_PAGE) {
    return this.request({ type: "history", room, before, limit });
  }

  // Search (1.2): the messages matching `query` in the rooms the user may
  // read (`room`: in that one alone), newest first: `results`. The ref, or null.
  search(query, room = null, limit = 20) {
    return this.request(room ? { type: "search", query, room, limit } : { type: "search", query, limit });
  }

  // The first page of rooms whose names start with `prefix` (any case).
  listRooms(prefix = "") {
    return this.request(prefix ? { type: "rooms", prefix } : { type: "rooms" });
  }

  // The user directory (1.2): users whose names start with `prefix` (any
  // case), sorted, after the user `after` (the next page): `users`, with
  // `more`. The ref, or null.
  users(prefix = "", after = null, limit = 20) {
    return this.request(after ? { type: "users", prefix, after, limit } : { type: "users", prefix, limit });
  }
}

// The HTTP side: sign up or log in, get {user, token, expires}.
export async function authenticate(kind, username, password) {
  const response = await fetch(kind === "register" ? "/api/register" : "/api/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.error?.message || `HTTP ${response.status}`);
    error.code = body.error?.code;
    error.noAccount = body.error?.no_account === true; // nobody has that name (login)
    error.status = response.status;
    error.retryAfter = response.headers.get("Retry-After");
    throw error;
  }
  return body;
}

// Revoke `token` on the server; true if it said so. Never throws.
export async function revoke(token, timeoutMs = 5000) {
  try {
    const response = await fetch("/api/logout", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(timeoutMs),
    });
    return response.ok;
  } catch {
    return false;
  }
}

export function webSocketUrl(location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}

// A client-chosen id for a send (1 to 64 characters); no secure context needed.
export function newCid() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const ERROR_WORDS = {
  bad_request: "The server did not understand that request.",
  unauthorized: "Your session has expired; please log in again.",
  not_member: "You are not in that room; join it first.",
  not_found: "Not found.",
  too_large: `That message is too long: ${MAX_TEXT} characters at most.`,
  conflict: "That name is taken.",
  interrupted: "The connection dropped before the server answered; see whether it happened.",
  rate_limited: "You are sending too fast; wait a moment and try again.",
  unavailable: "The server cannot store messages right now; try again shortly.",
  internal: "Something went wrong on the server.",
};

// An error frame (or HTTP error) in words for people; `forbidden` and others
// say best themselves why.
export function describeError(code, message) {
  return ERROR_WORDS[code] || sentence(message || "That did not work");
}

// `text` as a sentence: a capital first, one full stop at the end.
export function sentence(text) {
  const capital = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}
