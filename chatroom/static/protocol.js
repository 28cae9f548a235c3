// chatroom protocol v1 for the browser: the WebSocket session, with no DOM
// access. Read it next to docs/protocol.md.
//
// ChatClient keeps one connection up: it sends `hello` first, rejoins every
// joined room with `since` (the last message id it saw) after a reconnect, and
// drops messages it has already delivered, so a page misses nothing and shows
// nothing twice. It reports everything as events (EventTarget): `status`,
// `welcome`, `joined`, `left`, `message`, `presence`, `members`, `rooms`,
// `history`, `error` and `unauthorized`; each event's `detail` is the frame.

export const MAX_TEXT = 4000;
export const HISTORY_PAGE = 50;

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 10000;
const CLOSE_UNAUTHORIZED = 4401;

export class ChatClient extends EventTarget {
  constructor(url, token) {
    super();
    this.url = url;
    this.token = token;
    this.user = null;
    this.status = "offline";
    this.socket = null;
    this.stopped = false;
    this.backoffMs = BACKOFF_FIRST_MS;
    this.retryTimer = null;
    // room -> id of the last message delivered to the page (0: none yet)
    this.rooms = new Map();
    this.nextRef = 1;
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    if (this.socket) this.socket.close(1000, "bye");
    this.setStatus("offline");
  }

  open() {
    this.setStatus("connecting");
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.onopen = () => this.sendFrame({ type: "hello", token: this.token });
    socket.onmessage = (event) => this.receive(event.data);
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (event.code === CLOSE_UNAUTHORIZED) {
        this.stopped = true;
        this.setStatus("offline");
        this.emit("unauthorized", { code: event.code, reason: event.reason });
        return;
      }
      if (this.stopped) return;
      this.setStatus("reconnecting");
      const delay = this.backoffMs * (0.75 + Math.random() / 2);
      this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
      this.retryTimer = setTimeout(() => this.open(), delay);
    };
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

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    switch (frame.type) {
      case "welcome":
        this.user = frame.user;
        this.backoffMs = BACKOFF_FIRST_MS;
        this.setStatus("online");
        this.emit("welcome", frame);
        for (const [room, lastId] of this.rooms) {
          this.sendFrame(lastId ? { type: "join", room, since: lastId } : { type: "join", room });
        }
        break;
      case "joined": {
        // A truncated history starts afresh: the page restarts the room's list.
        if (frame.truncated) this.rooms.set(frame.room, 0);
        const fresh = this.acceptMessages(frame.room, frame.history);
        this.emit("joined", { ...frame, history: fresh });
        break;
      }
      case "message":
        if (this.acceptMessages(frame.room, [frame]).length) this.emit("message", frame);
        break;
      case "history":
        // Older pages: never newer than what the page has, so no bookkeeping.
        this.emit("history", frame);
        break;
      case "left":
        this.rooms.delete(frame.room);
        this.emit("left", frame);
        break;
      default:
        this.emit(frame.type, frame);
    }
  }

  // Messages of `room` not yet delivered to the page, oldest first.
  acceptMessages(room, messages) {
    if (!this.rooms.has(room)) this.rooms.set(room, 0);
    let lastId = this.rooms.get(room);
    const fresh = [];
    for (const message of messages) {
      if (message.id > lastId) {
        fresh.push(message);
        lastId = message.id;
      }
    }
    this.rooms.set(room, lastId);
    return fresh;
  }

  join(room) {
    if (!this.rooms.has(room)) this.rooms.set(room, 0);
    return this.sendFrame({ type: "join", room });
  }

  leave(room) {
    this.rooms.delete(room);
    return this.sendFrame({ type: "leave", room });
  }

  send(room, text) {
    const ref = this.nextRef++;
    return this.sendFrame({ type: "send", room, text, ref }) ? ref : null;
  }

  history(room, before) {
    return this.sendFrame({ type: "history", room, before, limit: HISTORY_PAGE });
  }

  listRooms() {
    return this.sendFrame({ type: "rooms" });
  }

  listMembers(room) {
    return this.sendFrame({ type: "members", room });
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
    error.status = response.status;
    error.retryAfter = response.headers.get("Retry-After");
    throw error;
  }
  return body;
}

export function webSocketUrl(location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}

const ERROR_WORDS = {
  bad_request: "The server did not understand that request.",
  unauthorized: "Your session has expired; please log in again.",
  forbidden: "That is not allowed.",
  not_member: "You are not in that room; join it first.",
  not_found: "Not found.",
  too_large: `That message is too long: ${MAX_TEXT} characters at most.`,
  rate_limited: "You are sending too fast; wait a moment and try again.",
  unavailable: "The server cannot store messages right now; try again shortly.",
  internal: "Something went wrong on the server.",
};

// An error frame (or HTTP error) in words for people.
export function describeError(code, message) {
  return ERROR_WORDS[code] || message || "Something went wrong.";
}
