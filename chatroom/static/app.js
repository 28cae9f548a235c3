// The page: sign-in, rooms, messages, members, composer. Every string from a
// user is inserted with textContent, never as HTML. The protocol lives in
// protocol.js.

import {
  ChatClient,
  HISTORY_PAGE,
  MAX_TEXT,
  authenticate,
  describeError,
  webSocketUrl,
} from "./protocol.js";

const TOKEN_KEY = "chatroom.token";
const USER_KEY = "chatroom.user";
const ROOMS_KEY = "chatroom.rooms";
const MAX_KEPT_MESSAGES = 2000; // per room, in the page
const ROOMS_REFRESH_MS = 10000;
const COUNTER_FROM = 500; // show the characters left once fewer than this remain
const ERROR_SHOWN_MS = 6000;

const $ = (id) => document.getElementById(id);

let client = null;
let current = null; // the room shown
let roomsTimer = null;
const rooms = new Map(); // name -> {items, members, unread, oldestId, complete, loading}

function roomState(name) {
  let room = rooms.get(name);
  if (!room) {
    room = { items: [], members: [], unread: 0, oldestId: null, complete: false, loading: false };
    rooms.set(name, room);
  }
  return room;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// -- signing in ---------------------------------------------------------------

function showAuth(message = "") {
  $("chat").hidden = true;
  $("auth").hidden = false;
  $("auth-error").textContent = message;
  $("username").focus();
}

async function onAuthSubmit(event) {
  event.preventDefault();
  const kind = event.submitter?.value === "register" ? "register" : "login";
  const username = $("username").value.trim();
  const password = $("password").value;
  $("auth-error").textContent = "";
  try {
    const issued = await authenticate(kind, username, password);
    localStorage.setItem(TOKEN_KEY, issued.token);
    localStorage.setItem(USER_KEY, issued.user);
    $("password").value = "";
    startChat(issued.token, issued.user);
  } catch (error) {
    const wait = error.retryAfter ? ` Try again in ${error.retryAfter} s.` : "";
    $("auth-error").textContent = `${error.message}.${wait}`;
  }
}

function logOut(message = "") {
  if (client) client.stop();
  client = null;
  clearInterval(roomsTimer);
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(USER_KEY);
  localStorage.removeItem(ROOMS_KEY);
  rooms.clear();
  current = null;
  renderAll();
  showAuth(message);
}

// -- the session --------------------------------------------------------------

function startChat(token, user) {
  $("auth").hidden = true;
  $("chat").hidden = false;
  $("me").textContent = user;
  client = new ChatClient(webSocketUrl(window.location), token);
  client.addEventListener("status", (e) => showStatus(e.detail.status));
  client.addEventListener("welcome", (e) => {
    $("me").textContent = e.detail.user;
    for (const room of rooms.values()) room.loading = false; // unanswered before a drop
    client.listRooms();
  });
  client.addEventListener("joined", (e) => onJoined(e.detail));
  client.addEventListener("left", (e) => onLeft(e.detail.room));
  client.addEventListener("message", (e) => onMessage(e.detail));
  client.addEventListener("presence", (e) => onPresence(e.detail));
  client.addEventListener("members", (e) => {
    roomState(e.detail.room).members = e.detail.members;
    renderMembers();
  });
  client.addEventListener("rooms", (e) => renderAllRooms(e.detail.rooms));
  client.addEventListener("history", (e) => onHistory(e.detail));
  client.addEventListener("error", (e) => showError(describeError(e.detail.code, e.detail.message)));
  client.addEventListener("unauthorized", () => logOut("Your session has ended; please log in again."));
  for (const room of savedRooms()) {
    roomState(room);
    client.join(room);
  }
  client.start();
  roomsTimer = setInterval(() => client && client.listRooms(), ROOMS_REFRESH_MS);
  renderAll();
}

function savedRooms() {
  try {
    const saved = JSON.parse(localStorage.getItem(ROOMS_KEY) || "[]");
    return Array.isArray(saved) ? saved.filter((r) => typeof r === "string") : [];
  } catch {
    return [];
  }
}

function saveRooms() {
  localStorage.setItem(ROOMS_KEY, JSON.stringify([...rooms.keys()]));
}

function showStatus(status) {
  const words = {
    online: "connected",
    connecting: "connecting…",
    reconnecting: "reconnecting…",
    offline: "offline",
  };
  $("status").textContent = words[status] || status;
  $("status").dataset.status = status;
  const enabled = status === "online" && current !== null;
  $("message-input").disabled = !enabled;
  $("composer").querySelector("button").disabled = !enabled;
}

let errorTimer = null;
function showError(text) {
  $("chat-error").textContent = text;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => ($("chat-error").textContent = ""), ERROR_SHOWN_MS);
}

// -- events from the server ---------------------------------------------------

function onJoined(frame) {
  const room = roomState(frame.room);
  room.members = frame.members;
  if (frame.truncated) {
    // More was missed than one frame holds: start over from what came, and
    // page back from its first message when scrolled to the top.
    room.items = [];
    room.oldestId = null;
  }
  const first = room.items.length === 0;
  appendItems(room, frame.history.map((m) => ({ kind: "message", message: m })));
  if (first) room.complete = !frame.truncated && frame.history.length < HISTORY_PAGE;
  if (room.oldestId === null && frame.history.length) room.oldestId = frame.history[0].id;
  saveRooms();
  if (current === null) current = frame.room;
  renderAll();
  if (frame.room === current) scrollToBottom();
  client.listRooms();
}

function onLeft(name) {
  rooms.delete(name);
  saveRooms();
  if (current === name) current = rooms.keys().next().value ?? null;
  renderAll();
  client.listRooms();
}

function onMessage(message) {
  const room = roomState(message.room);
  const item = { kind: "message", message };
  appendItems(room, [item]);
  if (message.room === current) {
    appendToList([item]);
    if (document.hidden) room.unread += 1;
  } else {
    room.unread += 1;
    renderJoinedRooms();
  }
}

function onPresence(frame) {
  const room = rooms.get(frame.room);
  if (!room) return;
  if (frame.event === "join") {
    if (!room.members.some((m) => m.user === frame.user)) {
      room.members.push({ user: frame.user, since: Date.now() });
    }
  } else {
    room.members = room.members.filter((m) => m.user !== frame.user);
  }
  const item = { kind: "presence", text: `${frame.user} ${frame.event === "join" ? "joined" : "left"}` };
  appendItems(room, [item]);
  if (frame.room === current) {
    appendToList([item]);
    renderMembers();
  }
}

function onHistory(frame) {
  const room = rooms.get(frame.room);
  if (!room) return;
  room.loading = false;
  const older = frame.messages.filter((m) => room.oldestId === null || m.id < room.oldestId);
  if (frame.messages.length < HISTORY_PAGE) room.complete = true;
  if (older.length) {
    room.oldestId = older[0].id;
    room.items = older.map((m) => ({ kind: "message", message: m })).concat(room.items);
  }
  if (frame.room !== current) return;
  const scroller = $("scroller");
  const fromBottom = scroller.scrollHeight - scroller.scrollTop;
  renderMessages();
  scroller.scrollTop = scroller.scrollHeight - fromBottom;
}

function appendItems(room, items) {
  room.items.push(...items);
  if (room.items.length > MAX_KEPT_MESSAGES) {
    room.items.splice(0, room.items.length - MAX_KEPT_MESSAGES);
    room.complete = false;
    const first = room.items.find((i) => i.kind === "message");
    room.oldestId = first ? first.message.id : room.oldestId;
  }
}

// -- rendering ------------------------------------------------------------------

function renderAll() {
  renderJoinedRooms();
  renderMessages();
  renderMembers();
  $("room-title").textContent = current ? `# ${current}` : "Join a room to start";
  showStatus(client ? client.status : "offline");
}

function renderJoinedRooms() {
  const list = $("joined-rooms");
  list.replaceChildren();
  for (const [name, room] of rooms) {
    const item = element("li", name === current ? "room current" : "room");
    const open = element("button", "room-name", `# ${name}`);
    open.type = "button";
    open.addEventListener("click", () => selectRoom(name));
    if (name === current) open.setAttribute("aria-current", "true");
    item.append(open);
    if (room.unread) {
      const badge = element("span", "badge", String(room.unread));
      badge.setAttribute("aria-label", `${room.unread} unread`);
      item.append(badge);
    }
    const leave = element("button", "leave", "×");
    leave.type = "button";
    leave.setAttribute("aria-label", `Leave ${name}`);
    leave.addEventListener("click", () => client && client.leave(name));
    item.append(leave);
    list.append(item);
  }
}

function renderAllRooms(list) {
  const target = $("all-rooms");
  target.replaceChildren();
  for (const { room, count } of list) {
    const item = element("li", "room");
    const open = element("button", "room-name", `# ${room}`);
    open.type = "button";
    open.addEventListener("click", () => joinRoom(room));
    item.append(open, element("span", "count", `${count} ${count === 1 ? "member" : "members"}`));
    target.append(item);
  }
}

function renderMembers() {
  const list = $("members");
  list.replaceChildren();
  const room = current && rooms.get(current);
  if (!room) return;
  for (const member of room.members) {
    const item = element("li", member.user === client?.user ? "member me" : "member", member.user);
    list.append(item);
  }
}

function renderMessages() {
  $("messages").replaceChildren();
  const room = current && rooms.get(current);
  $("history-state").textContent = room ? (room.complete ? "The beginning of this room." : "") : "";
  if (room) appendToList(room.items, false);
}

function appendToList(items, follow = true) {
  const scroller = $("scroller");
  const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 48;
  const list = $("messages");
  for (const item of items) list.append(renderItem(item));
  while (list.children.length > MAX_KEPT_MESSAGES) list.firstElementChild.remove();
  if (follow && atBottom) scrollToBottom();
}

function renderItem(item) {
  if (item.kind === "presence") return element("li", "presence", item.text);
  const { message } = item;
  const own = message.user === client?.user;
  const li = element("li", own ? "message own" : "message");
  li.dataset.id = String(message.id);
  const meta = element("div", "meta");
  const author = element("span", "author", message.user);
  const when = new Date(message.ts);
  const time = element("time", "time", when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
  time.dateTime = when.toISOString();
  time.title = when.toLocaleString();
  meta.append(author, time);
  li.append(meta, element("p", "text", message.text));
  return li;
}

function scrollToBottom() {
  const scroller = $("scroller");
  scroller.scrollTop = scroller.scrollHeight;
}

// -- actions --------------------------------------------------------------------

function selectRoom(name) {
  current = name;
  roomState(name).unread = 0;
  renderAll();
  scrollToBottom();
  $("message-input").focus();
}

function joinRoom(name) {
  if (!client) return;
  if (rooms.has(name)) {
    selectRoom(name);
    return;
  }
  roomState(name);
  current = name;
  client.join(name);
  renderAll();
}

function onJoinSubmit(event) {
  event.preventDefault();
  const input = $("room-input");
  const name = input.value.trim();
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
    showError("Room names are 1 to 64 characters: letters, digits, _ - .");
    return;
  }
  input.value = "";
  joinRoom(name);
}

function onComposerSubmit(event) {
  event.preventDefault();
  const input = $("message-input");
  const text = input.value;
  if (!text.trim() || !current || !client) return;
  if ([...text].length > MAX_TEXT) {
    showError(describeError("too_large"));
    return;
  }
  if (client.send(current, text) === null) {
    showError("Not connected: the message was not sent.");
    return;
  }
  input.value = "";
  updateCounter();
}

function onComposerKey(event) {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
}

function updateCounter() {
  const left = MAX_TEXT - [...$("message-input").value].length;
  const counter = $("counter");
  counter.textContent = left < COUNTER_FROM ? `${left} characters left` : "";
  counter.classList.toggle("warn", left < 100);
}

function onScroll() {
  const room = current && rooms.get(current);
  if (!room || room.complete || room.loading || room.oldestId === null) return;
  if ($("scroller").scrollTop < 40 && client.history(current, room.oldestId)) room.loading = true;
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && current && rooms.has(current)) {
    rooms.get(current).unread = 0;
    renderJoinedRooms();
  }
});

function main() {
  $("auth-form").addEventListener("submit", onAuthSubmit);
  $("logout").addEventListener("click", () => logOut());
  $("join-form").addEventListener("submit", onJoinSubmit);
  $("composer").addEventListener("submit", onComposerSubmit);
  $("message-input").addEventListener("keydown", onComposerKey);
  $("message-input").addEventListener("input", updateCounter);
  $("scroller").addEventListener("scroll", onScroll);
  const token = localStorage.getItem(TOKEN_KEY);
  const user = localStorage.getItem(USER_KEY);
  if (token && user) startChat(token, user);
  else showAuth();
}

main();
