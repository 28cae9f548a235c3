// The page: the session, and what the server's events do to the page's
// rooms. The protocol is in protocol.js, the sign-in form in signin.js,
// unconfirmed sends in pending.js, the message list in messages.js (Edit and
// Delete on a message in actions.js), the side lists in sidebar.js, roles
// and the moderation controls of the Members list in moderation.js, the
// topic's editor in topic.js, the message field in composer.js (bots'
// commands after `/` in commands.js), a room's webhooks in hooks.js. Here
// too: the New room form (`create`), the Invite and Unban fields of the
// room's owner and moderators, and the notices of invitations to private
// rooms.
// Conversations (1.1): direct rooms (named `@a,b`, listed under Direct
// messages by the other user's name), "… is typing", and unread counts and
// the "New messages" line from the server's read markers. Bots (1.2): a
// command sent from the field, and a bot's `ephemeral` answers in the room
// (for this page's user alone, never unread). Search and files (1.2): the
// search box in search.js, opening a room at a result's message in jump.js,
// files in messages in files.js, attaching and uploading them in uploads.js.
// Mentions, notifications and people (1.2): `@` in the field lists people
// (mention-menu.js, in the composer), the Mentions box (mentions.js),
// notifications, sounds, muted rooms and the favicon's count (notify.js),
// the People directory (people.js).
// Replies and reactions (1.2): replies.js (Reply, the quote above the field
// and above a reply), reactions.js (the chips and the emoji picker).
// Rooms (1.2): each room's address in address.js, the room list's groups
// (Direct, Rooms, Archived) in roomgroups.js, the room's settings panel
// (moderation, transfer, archive, topic, webhooks) in settings.js, the
// Members panel of a narrow screen in panels.js; the service worker that
// opens the page offline is registered by offline.js (sw.js).

import { followAddress, roomInAddress, showInAddress } from "./address.js";
import { Composer } from "./composer.js";
import { $, button, element } from "./dom.js";
import { FileStore, Lightbox, renderFiles } from "./files.js";
import { HookPanel } from "./hooks.js";
import { MessageJump } from "./jump.js";
import { MentionsView } from "./mentions.js";
import { MAX_SHOWN, MessageView } from "./messages.js";
import { MAX_TOPIC, MemberTools, runs } from "./moderation.js";
import { openMembers, setUpMembersPanel } from "./panels.js";
import { Notifier } from "./notify.js";
import { PendingSends } from "./pending.js";
import { PeopleDirectory } from "./people.js";
import { Reactions, reactionRefused } from "./reactions.js";
import { Replies } from "./replies.js";
import {
  ChatClient,
  HISTORY_PAGE,
  MAX_TEXT,
  describeError,
  directRoomName,
  isDirect,
  otherUser,
  revoke,
  roomKey,
  webSocketUrl,
} from "./protocol.js";
import { SearchPanel } from "./search.js";
import { isArchived, renderRoomGroups } from "./roomgroups.js";
import { RoomSettings } from "./settings.js";
import { openDrawer, renderAllRooms, renderMembers, setUpDrawer } from "./sidebar.js";
import { setUpSignIn, showSignIn } from "./signin.js";
import { TopicEditor } from "./topic.js";
import { Uploads } from "./uploads.js";

const TOKEN_KEY = "chatroom.token";
const USER_KEY = "chatroom.user";
const ROOMS_KEY = "chatroom.rooms"; // your rooms, shown before the server lists them
const CURRENT_KEY = "chatroom.current"; // the open room
const LEAVING_KEY = "chatroom.leaving"; // left here; `leave` goes out after the next welcome
const SESSION_KEYS = [TOKEN_KEY, USER_KEY, ROOMS_KEY, CURRENT_KEY, LEAVING_KEY];
const ROOMS_REFRESH_MS = 10000;
const ROOMS_SOON_MS = 300; // All rooms follows presence changes this soon
const ERROR_SHOWN_MS = 6000;
const AWAY_MS = 60000; // "… left" only once a member has been gone this long
const ROOM_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const ROOM_PREFIX = /^[A-Za-z0-9_.-]{0,64}$/;
const USER_NAME = /^[A-Za-z0-9_.-]{1,32}$/;
const TYPING_SHOWN_MS = 5000; // "… is typing" lasts this long after a `typing`
const TYPING_EVERY_MS = 2000; // our `typing` goes at most this often per room
const READ_AFTER_MS = 300; // a burst of messages seen makes one `read`
const MEMBERS_SOON_MS = 500; // members unknown as bots or people: the list, this soon
const MAX_UNREAD = 1000; // the server's counts stop here
const DIRECT_REFUSED = {
  not_found: "There is no user by that name.",
  bad_request: "That is you.",
};
const ROOM_NAME_RULE = "Room names are 1 to 64 letters, digits, dots, dashes or underscores.";
const NOT_CONNECTED = "Not connected; try again once the page is connected.";
const CHANGE_REFUSED = { not_found: "It is no longer there.", forbidden: "It is someone else's." };
const MODERATION_REFUSED = {
  forbidden: "You are not allowed to do that (any more).",
  not_member: "You are not in this room any more.",
  not_found: "There is no such user here.",
};
const INVITE_REFUSED = {
  forbidden: "They may be banned from it, or you are no longer its owner or a moderator.",
  bad_request: "Only private rooms take invitations.",
  not_member: "You are not in this room any more.",
};

let client = null;
let pending = null; // PendingSends of the signed-in user
let current = null; // roomKey of the open room
let allRooms = { rooms: [], more: false }; // the last `rooms` answer
const rooms = new Map(); // roomKey -> see addRoom()
const leaving = new Map(); // roomKey -> name: left, `left` not seen yet
let roomsTimer = null;
let roomsSoon = null;
let errorTimer = null;
let creating = null; // roomKey of the room our `create` is making
const invitations = new Map(); // roomKey -> {room, by}: not joined yet
const bots = new Map(); // user -> whether a bot, as member lists and messages said
const askingMembers = new Map(); // roomKey -> the timer of its `members`
let typingTimer = null; // redraws "… is typing" when the next one ends
let readTimer = null;

const fileStore = new FileStore(() => client?.token ?? null);
const lightbox = new Lightbox();

const view = new MessageView({
  scroller: $("scroller"),
  list: $("messages"),
  pending: $("pending"),
  beginning: $("history-state"),
  jump: $("jump"),
  onNearTop: loadOlder,
  onRetry: (entry) => pending.try(entry),
  onUser: openDirect,
  canEdit: mayEdit,
  canDelete: mayDelete,
  onSave: saveEdit,
  onDelete: deleteMessage,
  renderFiles: (files) =>
    renderFiles(files, { store: fileStore, lightbox, keepPlace: (change) => view.keepPlace(change) }),
  onNearBottom: () => jump.nearBottom(),
  onLatest: () => jump.latest(current),
  renderQuote: (room, message) => replies.quote(room, message),
  renderReactions: (room, message) => reactions.chips(room, message),
  moreTools: (room, message) =>
    client && !room.info?.archived ? [replies.button(room, message), reactions.button(room, message)] : [],
});

const composer = new Composer({
  form: $("composer"),
  input: $("message-input"),
  counter: $("counter"),
  menu: $("command-menu"),
  hint: $("command-hint"),
  send: sendMessage,
  invoke: invokeCommand,
  listCommands: () => client?.listCommands() != null,
  error: (text) => showError(text),
  typing: sendTyping,
  attached: () => uploads.has(openName()),
  mentions: {
    list: $("mention-menu"),
    people: () => roomPeople(),
    listUsers: (prefix, limit) => client?.users(prefix, null, limit) ?? null,
    me: () => client?.user ?? view.me,
  },
});

const openName = () => (current && rooms.get(current)?.name) || null;

const uploads = new Uploads({
  token: () => client?.token ?? null,
  openRoom: openName,
  error: (text) => showError(text),
  changed: () => composer.changed(),
});

const searchPanel = new SearchPanel({
  client: () => client,
  openRoom: openName,
  me: () => client?.user ?? view.me,
  onPick: (name, id) => jump.goTo(name, id),
});

const jump = new MessageJump({
  rooms,
  client: () => client,
  view,
  open: openAt,
  current: () => current,
  showRoom: () => showRoom(),
  messageItem: (message) => messageItem(message),
  error: (text) => showError(text),
});

const hookPanel = new HookPanel({ client: () => client });

const notifier = new Notifier({
  me: () => client?.user ?? view.me,
  openRoom: () => (current && rooms.get(current)) || null,
  open: (name, id) => jump.goTo(name, id),
  changed: () => renderSide(),
});

const mentionsView = new MentionsView({
  client: () => client,
  me: () => client?.user ?? view.me,
  onPick: (name, id) => jump.goTo(name, id),
});

const people = new PeopleDirectory({
  client: () => client,
  me: () => client?.user ?? view.me,
  onOpen: (user) => openDirect(user),
});

const replies = new Replies({
  rooms,
  client: () => client,
  view,
  current: () => current,
  jumpTo: (name, id) => jump.goTo(name, id),
  input: $("message-input"),
  anchor: $("composer"),
});

const reactions = new Reactions({
  client: () => client,
  me: () => client?.user ?? view.me,
  error: (text) => showError(text),
  messageOf: (room, id) => room.items.find((i) => i.kind === "message" && i.message.id === id)?.message ?? null,
});

const topicEditor = new TopicEditor({
  openRoom: () => (current && rooms.get(current)) || null,
  save: saveTopic,
  error: (text) => showError(text),
});

const memberTools = new MemberTools({
  onRemove: removeMember,
  onRole: setRole,
  redraw: () => renderSide(),
});

const roomSettings = new RoomSettings({ client: () => client, tools: memberTools });

// Who may change a message (the server decides; this only offers the
// buttons): its author edits it (not in an archived room); its author, the
// room's owner and its moderators (from the room's `info`) delete it.
function mayEdit(room, message) {
  return Boolean(client) && message.user === client.user && !isArchived(room);
}

function mayDelete(room, message) {
  return Boolean(client) && (message.user === client.user || runs(room, client.user));
}

function addRoom(name, known) {
  const key = roomKey(name);
  if (!rooms.has(key)) {
    rooms.set(key, {
      name, // the server's spelling, once it answered
      known, // the server keeps it among your rooms
      loaded: false, // its messages came (`joined`)
      items: [], // {kind: "message"|"presence", message | text, ts}, oldest first
      members: [],
      seen: new Set(), // users met in the room and not since said to have left
      away: new Map(), // user -> the timer of their "… left", gone less than AWAY_MS
      unread: 0,
      oldestId: null,
      complete: false, // nothing older exists
      loading: false,
      view: { atBottom: true, fromBottom: 0, fresh: 0 },
      openedFrom: null, // the room open when this one was joined
      read: null, // the server's read marker: the last message id read
      readSent: 0, // the id of our last `read`
      divider: null, // "New messages" goes before the first message after this id
      typing: new Map(), // user -> until when "… is typing" shows
      typedAt: 0, // when our last `typing` went
      liveId: 0, // the newest message id known (delivered or not)
      behind: false, // opened at an old message: its list ends before liveId (jump.js)
    });
  }
  const room = rooms.get(key);
  room.known ||= known;
  return room;
}

const messageItem = (message) => ({ kind: "message", message, ts: message.ts });
const lastIdOf = (room) => room.items.findLast((i) => i.kind === "message")?.message.id ?? 0;
const isSeen = (key) => key === current && !document.hidden;

// What the user has read of `room`: up to the server's read marker, and
// everything before their own last message (who writes has read what came
// before); their own messages are never unread.
function readUpTo(room) {
  const own = room.items.findLast((i) => i.kind === "message" && i.message.user === client?.user);
  return Math.max(room.read ?? 0, own?.message.id ?? 0);
}

// The unread count of a loaded room: what came after readUpTo (ids are
// contiguous, so the last id less it, as the server counts); `marker`
// stands in for a read marker the server does not have.
function unreadOf(room, marker = room.read ?? 0) {
  return Math.min(MAX_UNREAD, Math.max(0, lastIdOf(room) - Math.max(marker, readUpTo(room))));
}

function loadList(key) {
  try {
    const list = JSON.parse(localStorage.getItem(key) || "[]");
    return Array.isArray(list) ? list.filter((name) => typeof name === "string") : [];
  } catch {
    return [];
  }
}

function saveRooms() {
  localStorage.setItem(ROOMS_KEY, JSON.stringify([...rooms.values()].map((room) => room.name)));
  localStorage.setItem(LEAVING_KEY, JSON.stringify([...leaving.values()]));
  localStorage.setItem(CURRENT_KEY, current ? rooms.get(current).name : "");
}

// -- signing out ----------------------------------------------------------------

// End the session here; with `revokeToken`, on the server first (every tab
// using the token is then closed by the server).
async function logOut(message = "", { revokeToken = true } = {}) {
  const token = client?.token;
  stopChat();
  if (revokeToken && token) await revoke(token);
  // Another tab may have logged in since: its session is not ours to end.
  if (!token || localStorage.getItem(TOKEN_KEY) === token) {
    for (const key of SESSION_KEYS) localStorage.removeItem(key);
    PendingSends.clear();
  }
  showSignIn(message);
}

function stopChat() {
  client?.stop();
  client = null;
  pending?.stop();
  pending = null;
  clearInterval(roomsTimer);
  clearTimeout(roomsSoon);
  clearTimeout(typingTimer);
  clearTimeout(readTimer);
  readTimer = null;
  for (const room of rooms.values()) forgetAway(room);
  rooms.clear();
  leaving.clear();
  current = null;
  allRooms = { rooms: [], more: false };
  creating = null;
  invitations.clear();
  bots.clear();
  renderInvitations();
  openCreate(false);
  manageNote("");
  hookPanel.close();
  roomSettings.close(false);
  searchPanel.reset();
  mentionsView.reset();
  people.reset();
  notifier.reset();
  replies.reset();
  reactions.reset();
  lightbox.close();
  uploads.clear();
  fileStore.clear();
  clearError();
  renderSide();
  showRoom();
}

// -- the session --------------------------------------------------------------

function startChat(token, user) {
  $("auth").hidden = true;
  $("chat").hidden = false;
  $("me").textContent = user;
  view.me = user;
  client = new ChatClient(webSocketUrl(window.location), token);
  pending = new PendingSends(user, {
    send: (entry) => {
      const files = (entry.files ?? []).map((file) => file.id);
      return client.send(entry.room, entry.text, entry.cid, files, entry.replyTo ?? null);
    },
    show: (entry) => {
      if (roomKey(entry.room) === current) view.showPending(entry);
    },
    hide: (cid) => view.removePending(cid),
  });
  for (const name of loadList(LEAVING_KEY)) leaving.set(roomKey(name), name);
  for (const name of loadList(ROOMS_KEY)) {
    if (!leaving.has(roomKey(name))) client.join(addRoom(name, true).name);
  }
  pending.keepRooms(rooms);
  const saved = roomKey(localStorage.getItem(CURRENT_KEY) || "");
  current = rooms.has(saved) ? saved : firstRoom();
  const on = (type, handler) => client.addEventListener(type, (event) => handler(event.detail));
  on("status", ({ status }) => showStatus(status));
  on("welcome", onWelcome);
  on("joined", onJoined);
  on("left", (frame) => {
    leaving.delete(roomKey(frame.room));
    saveRooms();
  });
  on("message", onMessage);
  on("stray", onStray);
  on("typing", onTyping);
  on("read", onRead);
  on("sent", (frame) => pending.settle(frame.cid));
  on("presence", onPresence);
  on("members", (frame) => setMembers(frame.room, frame.members, false));
  on("rooms", (frame) => {
    allRooms = { rooms: frame.rooms, more: Boolean(frame.more) };
    renderSide();
  });
  on("history", onHistory);
  on("results", (frame) => searchPanel.onResults(frame));
  on("room", (frame) => {
    const room = rooms.get(roomKey(frame.room));
    if (!room) return;
    room.info = frame.info;
    renderSide();
    if (roomKey(frame.room) === current) showRoom();
  });
  on("kicked", onKicked);
  on("invitation", onInvitation);
  on("invited", (frame) => manageNote(`Invited ${frame.user} to # ${frame.room}.`));
  on("done", (frame) => {
    const { request } = frame;
    if (roomSettings.onDone(frame)) return; // a transfer or an archive
    if (request?.type === "unban") manageNote(`Unbanned ${request.user} in # ${request.room}.`);
    hookPanel.onDone(request);
  });
  on("commands", (frame) => composer.setCommands(frame.commands));
  on("ephemeral", onEphemeral);
  on("hooks", (frame) => hookPanel.onHooks(frame));
  on("hook", (frame) => hookPanel.onHook(frame));
  on("edited", onEdited);
  on("deleted", onDeleted);
  on("reactions", onReactions);
  // Mentions, notifications and people (1.2).
  on("message", heard);
  on("stray", heard);
  on("joined", (frame) => mentionsView.saw(frame.history));
  on("history", (frame) => mentionsView.saw(frame.messages));
  on("mention", (frame) => {
    mentionsView.onMention(frame);
    notifier.onMention(frame, client.isJoined(frame.room));
  });
  on("results", (frame) => mentionsView.onResults(frame));
  on("users", (frame) => {
    people.onUsers(frame);
    composer.mentions.onUsers(frame);
  });
  on("edited", (frame) => mentionsView.onChanged(frame.room, frame.id, frame.text));
  on("deleted", (frame) => mentionsView.onChanged(frame.room, frame.id, null));
  on("error", onError);
  on("unauthorized", () =>
    logOut("Your session has ended; please log in again.", { revokeToken: false }),
  );
  client.start();
  roomsTimer = setInterval(listRooms, ROOMS_REFRESH_MS);
  const linked = roomInAddress(); // a shared link to a room
  if (linked) openLinked(linked);
  openDrawer(false);
  renderSide();
  showRoom();
}

const firstRoom = () => rooms.keys().next().value ?? null;

function showStatus(status) {
  const words = {
    online: "connected",
    connecting: "connecting…",
    reconnecting: "reconnecting…",
    offline: "offline",
  };
  $("status").textContent = words[status] || status;
  $("status").dataset.status = status;
}

// In the room's error area; `keep`: until another room is opened.
function showError(text, key = null, { keep = false } = {}) {
  const other = key && key !== current && rooms.get(key);
  $("chat-error").textContent = other ? `# ${other.name}: ${text}` : text;
  clearTimeout(errorTimer);
  if (!keep) errorTimer = setTimeout(clearError, ERROR_SHOWN_MS);
}

function clearError() {
  clearTimeout(errorTimer);
  $("chat-error").textContent = "";
}

// -- events from the server ---------------------------------------------------

function onWelcome(frame) {
  $("me").textContent = frame.user;
  composer.reconnected(); // a `commands` asked before the drop is not answered
  replies.reconnected();
  hookPanel.reconnected();
  const shown = current;
  for (const room of rooms.values()) {
    room.loading = false; // unanswered before a drop
    room.readSent = 0; // nor may a `read` have gone
  }
  if (Array.isArray(frame.rooms)) adoptRooms(frame.rooms);
  // The invitations not acted on yet (1.2), also those sent while offline.
  if (Array.isArray(frame.invitations)) {
    invitations.clear();
    for (const invitation of frame.invitations) onInvitation(invitation);
    renderInvitations();
  }
  for (const name of leaving.values()) client.leave(name);
  listRooms();
  renderSide();
  if (current !== shown) showRoom();
}

// The server's list of your rooms: join those new here (with their unread
// counts), drop those left on another device.
function adoptRooms(list) {
  const listed = new Set(list.map((entry) => roomKey(entry.room)));
  for (const [key, room] of rooms) {
    if (room.known && !listed.has(key)) removeRoom(key);
  }
  for (const { room: name, unread, archived } of list) {
    const key = roomKey(name);
    if (leaving.has(key)) continue;
    const room = addRoom(name, true);
    room.archived = archived === true; // until its `info` says (roomgroups.js)
    if (!room.loaded && key !== current && Number.isInteger(unread)) room.unread = unread;
    client.join(room.name);
  }
  current ??= firstRoom();
  saveRooms();
}

function onJoined(frame) {
  const key = roomKey(frame.room);
  const room = rooms.get(key);
  if (!room) return;
  // More was missed than one frame holds (messages, or the edits and
  // deletes of those we have): start over, and page back for the rest.
  const stale = frame.truncated || frame.changes_truncated;
  const again = room.loaded && !stale; // a rejoin: only what was missed
  const before = lastIdOf(room);
  room.name = frame.room;
  room.known = true;
  room.info = frame.info ?? null;
  setMembers(frame.room, frame.members, room.loaded);
  const items = frame.history.map(messageItem);
  const read = Number.isInteger(frame.read) ? frame.read : null;
  if (read !== null) room.read = Math.max(room.read ?? 0, read);
  if (!room.loaded) room.divider = room.read;
  if (!again) {
    // The first messages (or stale): start over from what came, and page
    // back from its first.
    const wasLoaded = room.loaded && before > 0;
    room.items = [];
    room.oldestId = frame.history[0]?.id ?? (wasLoaded ? before + 1 : null);
    room.complete = noOlder(frame, stale ? HISTORY_PAGE : frame.history.length);
    room.behind = false;
  }
  room.liveId = Math.max(room.liveId, frame.history[frame.history.length - 1]?.id ?? 0);
  // A room opened at an old message (jump.js) shows what was missed later.
  const shown = again && room.behind ? [] : items;
  addItems(room, shown);
  room.loaded = true;
  // The server's marker says what is unread; without one, the count so far
  // (the server's own from `welcome`, for a first join) says where the
  // unread messages start. Never our own, nor what came before them.
  const marker = read !== null ? room.read : (again ? before : lastIdOf(room)) - room.unread;
  room.unread = isSeen(key) ? 0 : unreadOf(room, marker);
  for (const message of frame.history) {
    if (message.cid !== undefined && message.user === client.user) pending.settle(message.cid);
  }
  current ??= key;
  if (key === creating) {
    creating = null;
    $("create-form").reset();
    openCreate(false);
  }
  if (invitations.delete(key)) renderInvitations();
  saveRooms();
  renderSide();
  if (key === current) {
    if (again) view.appended(shown);
    else showRoom();
    markReadSoon();
  }
  applyChanges(frame.room, frame.changes);
  pending.resend(room.name);
  refreshRoomsSoon();
  jump.step(key); // a room joined to open it at a message
}

// Whether nothing older than a page exists: the server says so with `more`
// (1.1); a 1.0 server only by a short page.
function noOlder(frame, count) {
  return frame.more === undefined ? count < HISTORY_PAGE : !frame.more;
}

// A message that came just now: a notification perhaps (notify.js), and
// the Mentions box keeps it if it names the user.
function heard(message) {
  notifier.onMessage(message);
  mentionsView.saw([message], true);
}

// The open room's people, for `@` (mention-menu.js): its members now, then
// those who wrote there, the latest first.
function roomPeople() {
  const room = current && rooms.get(current);
  if (!room) return [];
  const found = room.members.map(({ user, bot }) => ({ user, bot }));
  for (const item of room.items.toReversed()) {
    if (item.kind === "message") found.push({ user: item.message.user, bot: item.message.bot });
  }
  return found;
}

function onMessage(message) {
  const key = roomKey(message.room);
  const room = rooms.get(key);
  if (!room) return;
  const item = messageItem(message);
  bots.set(message.user, Boolean(message.bot));
  // Seen as it comes: no "New messages" line before it.
  if (isSeen(key) && (room.divider === null || lastIdOf(room) <= room.divider)) room.divider = message.id;
  room.liveId = Math.max(room.liveId, message.id);
  if (room.behind) {
    // Opened at an old message (jump.js): the list does not reach this one.
    if (key === current) {
      room.view.fresh += 1;
      view.showJump();
    }
  } else {
    addItems(room, [item]);
    if (key === current) view.appended([item]);
  }
  if (room.typing.delete(message.user) && key === current) renderTyping();
  // (A `read` from another device may come before the message it read.)
  if (message.user !== client.user && !isSeen(key) && message.id > (room.read ?? 0)) {
    room.unread += 1;
    renderSide();
  } else if (message.user === client.user && room.unread) {
    room.unread = 0; // written on another device: what came before is read
    renderSide();
  }
  if (key === current) markReadSoon();
}

// A bot's answer for this user alone (1.2), or the server's word that the
// bot did not answer: shown in its room until the page reloads; never
// unread, never stored.
function onEphemeral({ room: name, bot, text }) {
  const key = roomKey(typeof name === "string" ? name : "");
  const room = rooms.get(key);
  if (!room || typeof text !== "string") return;
  const item = { kind: "ephemeral", bot: typeof bot === "string" ? bot : "", text, ts: Date.now() };
  addItems(room, [item]);
  if (key === current) view.appended([item]);
}

// A message for a room not joined on this connection: a direct room's
// reaches both users wherever they are. The conversation joins the page's
// rooms with an unread badge (its `joined` brings the message itself).
function onStray(message) {
  if (!isDirect(message.room)) return;
  const key = roomKey(message.room);
  const known = rooms.get(key);
  if (known?.loaded) return; // rejoining after a drop: `joined` counts it
  const room = known ?? addRoom(message.room, true);
  leaving.delete(key);
  if (message.user !== client.user && message.id > (room.read ?? 0)) room.unread += 1;
  room.typing.delete(message.user);
  client.join(room.name);
  saveRooms();
  renderSide();
}

// Another member of `room` is typing: "… is typing" for TYPING_SHOWN_MS.
function onTyping({ room: name, user }) {
  const room = rooms.get(roomKey(name ?? ""));
  if (!room || typeof user !== "string" || user === client.user) return;
  room.typing.set(user, Date.now() + TYPING_SHOWN_MS);
  if (roomKey(name) === current) renderTyping();
}

// Who is typing in the open room, under its messages; redrawn when the
// first of them ends.
function renderTyping() {
  clearTimeout(typingTimer);
  const room = current && rooms.get(current);
  const now = Date.now();
  const users = [];
  let next = Infinity;
  for (const [user, until] of room?.typing ?? []) {
    if (until <= now) room.typing.delete(user);
    else {
      users.push(user);
      next = Math.min(next, until);
    }
  }
  let text = "";
  if (users.length === 1) text = `${users[0]} is typing…`;
  else if (users.length === 2) text = `${users[0]} and ${users[1]} are typing…`;
  else if (users.length > 2) text = "Several people are typing…";
  if ($("typing").textContent !== text) $("typing").textContent = text;
  if (users.length) typingTimer = setTimeout(renderTyping, next - now + 50);
}

// While the user types a message (not a command) in the open room:
// `typing`, at most every TYPING_EVERY_MS.
function sendTyping() {
  const room = current && rooms.get(current);
  const typed = $("message-input").value;
  if (!room || !client || !typed.trim() || /^\/(?!\/)/.test(typed)) return;
  const now = Date.now();
  if (now - room.typedAt < TYPING_EVERY_MS) return;
  if (client.typing(room.name) !== null) room.typedAt = now;
}

// The open room's messages are in view (the page too): tell the server the
// last is read, once for a burst of them, and only if the marker would move.
// Leaving the room (or the page) before then sends it at once: they were seen.
let readFor = null; // the roomKey the waiting `read` is for

function markReadSoon() {
  if (readTimer !== null || !current) return;
  readFor = current;
  readTimer = setTimeout(() => {
    readTimer = null;
    if (isSeen(readFor)) sendRead(readFor);
  }, READ_AFTER_MS);
}

function flushRead() {
  if (readTimer === null) return;
  clearTimeout(readTimer);
  readTimer = null;
  sendRead(readFor);
}

function sendRead(key) {
  const room = rooms.get(key);
  if (!room?.loaded || !client) return;
  const last = lastIdOf(room);
  if (last <= Math.max(room.read ?? 0, room.readSent)) return;
  if (client.markRead(room.name, last) !== null) room.readSent = last;
}

// The read marker moved (our `read` answered, or another device read): the
// unread badge shrinks to what came after it.
function onRead({ room: name, id }) {
  const key = roomKey(name ?? "");
  const room = rooms.get(key);
  if (!room || !Number.isInteger(id)) return;
  room.read = Math.max(room.read ?? 0, id);
  const left = room.loaded ? unreadOf(room) : room.unread;
  const unread = isSeen(key) ? 0 : Math.min(room.unread, left);
  if (unread !== room.unread) {
    room.unread = unread;
    renderSide();
  }
}

// Presence keeps the Members list current. Its lines tell of real arrivals
// and departures only: a reload, a reconnect or a dropped network (a leave
// and a join within AWAY_MS) shows neither. "… left" waits until the member
// has been gone AWAY_MS; "… joined" shows for someone not seen in the room
// before, or back after their "… left". Never for yourself, nor in a direct
// conversation (two people: the Members list says enough).
function onPresence(frame) {
  const key = roomKey(frame.room);
  const room = rooms.get(key);
  if (!room?.loaded) return;
  const { user } = frame;
  const joining = frame.event === "join";
  if (joining === room.members.some((m) => m.user === user)) return;
  if (joining) {
    // Presence names no bots (1.2): the member list does, asked for once.
    room.members.push({ user, since: Date.now(), bot: bots.get(user) });
    if (!bots.has(user)) askMembersSoon(key);
    const back = room.away.has(user) || room.seen.has(user);
    stayed(room, user);
    if (!back) presenceLine(key, room, user, "joined");
  } else {
    room.members = room.members.filter((m) => m.user !== user);
    goneAway(key, room, user);
  }
  renderSide();
  refreshRoomsSoon();
}

// `user` is a member of `room` (again): no "… left" is on its way.
function stayed(room, user) {
  clearTimeout(room.away.get(user));
  room.away.delete(user);
  room.seen.add(user);
}

// `user` is no longer in `room`: "… left" once they have stayed away AWAY_MS.
function goneAway(key, room, user) {
  if (room.away.has(user) || user === client.user || isDirect(room.name)) return;
  const timer = setTimeout(() => {
    room.away.delete(user);
    if (rooms.get(key) !== room || room.members.some((m) => m.user === user)) return;
    room.seen.delete(user);
    presenceLine(key, room, user, "left");
  }, AWAY_MS);
  room.away.set(user, timer);
}

function presenceLine(key, room, user, verb) {
  if (user === client?.user || isDirect(room.name)) return;
  const item = { kind: "presence", text: `${user} ${verb}`, ts: Date.now() };
  addItems(room, [item]);
  if (key === current) view.appended([item]);
}

function forgetAway(room) {
  for (const timer of room.away.values()) clearTimeout(timer);
  room.away.clear();
}

// The members `joined` or `members` listed. After a reconnect (`rejoin`)
// those present before and missing now are on their way back or gone:
// "… left" for them once they have stayed away AWAY_MS. Those new in the
// list came while we were away: no line.
function setMembers(name, members, rejoin) {
  const key = roomKey(name);
  const room = rooms.get(key);
  if (!room) return;
  if (rejoin) {
    for (const { user } of room.members) {
      if (!members.some((m) => m.user === user)) goneAway(key, room, user);
    }
  }
  room.members = [...members];
  for (const { user, bot } of members) {
    stayed(room, user);
    bots.set(user, Boolean(bot));
  }
  renderSide();
}

// The member list of the room `key`, soon (once for a burst of joins).
function askMembersSoon(key) {
  if (askingMembers.has(key)) return;
  const timer = setTimeout(() => {
    askingMembers.delete(key);
    if (rooms.has(key)) client?.members(rooms.get(key).name);
  }, MEMBERS_SOON_MS);
  askingMembers.set(key, timer);
}

function onHistory(frame) {
  if (jump.onHistory(frame)) return; // a page around a message, or after one
  if (replies.onHistory(frame)) return; // messages replied to, not loaded
  const key = roomKey(frame.room);
  const room = rooms.get(key);
  if (!room) return;
  room.loading = false;
  const older = frame.messages.filter((m) => room.oldestId === null || m.id < room.oldestId);
  room.complete = noOlder(frame, frame.messages.length);
  if (older.length) {
    room.oldestId = older[0].id;
    room.items = older.map(messageItem).concat(room.items);
  }
  if (key === current) view.rerender();
  jump.step(key); // paging back to a message jumped to
}

// A message was edited or deleted: `change` makes the message as it is now.
// One older than those loaded comes as it is now with its page of history.
// Each change may come twice (live, then among a rejoin's `changes`): the
// second does nothing new, and a deleted message stays deleted.
function onChanged(frame, change) {
  const key = roomKey(frame.room);
  const room = rooms.get(key);
  const item = room?.items.findLast((i) => i.kind === "message" && i.message.id === frame.id);
  if (item && !item.message.deleted) {
    item.message = change(item.message);
    if (key === current) view.changed(frame.id, Boolean(item.message.deleted));
  }
  if (frame.type !== "reactions") replies.changed(key, frame.id, change); // its quotes
}

const onEdited = (frame) =>
  onChanged(frame, (message) => ({ ...message, text: frame.text, edited: frame.edited }));
const onDeleted = (frame) =>
  onChanged(frame, ({ text, edited, ...message }) => ({ ...message, deleted: true }));
// A message's reactions now (1.2): the whole set, so a repeat changes nothing.
const onReactions = (frame) => {
  if (frame.reactions && typeof frame.reactions === "object") {
    onChanged(frame, (message) => ({ ...message, reactions: frame.reactions }));
  }
};

// A rejoin's `changes` (1.2): the edits and deletes made while we were away
// to messages we had, oldest first, as the live frames would have been.
function applyChanges(name, changes) {
  if (!Array.isArray(changes)) return;
  for (const change of changes) {
    if (!change || !Number.isInteger(change.id)) continue;
    const frame = { ...change, room: name };
    if (change.type === "edited" && typeof change.text === "string") onEdited(frame);
    else if (change.type === "deleted") onDeleted(frame);
    else if (change.type === "reactions") onReactions(frame);
  }
}

function onError(frame) {
  const { request } = frame;
  const text = describeError(frame.code, frame.message);
  const key = request?.room ? roomKey(request.room) : null;
  switch (request?.type) {
    case "send": {
      pending.refused(request.cid, text); // the message says so itself
      if (key === current) return;
      break;
    }
    case "leave":
      if (frame.code !== "rate_limited" && frame.code !== "unavailable") {
        leaving.delete(key); // nothing to leave
        saveRooms();
      }
      return;
    case "join":
      backFrom(key);
      showError(`Could not join ${isDirect(request.room) ? "" : "# "}${request.room}: ${text}`);
      return;
    case "direct":
      backFrom(key);
      showError(`Could not open a conversation with ${request.user}: ${DIRECT_REFUSED[frame.code] || text}`);
      return;
    case "typing":
    case "read":
      return; // left meanwhile, or too fast: nothing to tell
    case "commands":
      composer.setCommands([]); // a server without commands
      return;
    case "command": {
      const none = frame.code === "not_found" && `No command /${request.name}: no bot offers it now.`;
      showError(none || `Could not run /${request.name}: ${text}`, key);
      if (key === current) composer.restore(`/${request.name}${request.args ? ` ${request.args}` : ""}`);
      return;
    }
    case "hook":
    case "hooks":
    case "unhook":
      hookPanel.onError(frame);
      return;
    case "transfer":
    case "archive":
      roomSettings.onError(frame);
      return;
    case "decline":
      // Gone already (joined or declined elsewhere), or a server before 1.2.
      if (frame.code === "not_found" || frame.code === "bad_request") return;
      showError(`Could not decline the invitation to ${request.room}: ${text}`);
      return;
    case "create": {
      backFrom(key);
      if (creating === key) creating = null;
      const taken = frame.code === "conflict";
      createError(
        taken ? `A room named ${request.room} already exists.` : `Could not create # ${request.room}: ${text}`,
      );
      openDrawer(true); // on a narrow screen the form is in the drawer
      $("create-name").focus(); // what was typed stays, to change
      return;
    }
    case "invite":
    case "unban": {
      const why =
        (request.type === "invite" && INVITE_REFUSED[frame.code]) || MODERATION_REFUSED[frame.code] || text;
      const unknown = request.type === "invite" && frame.code === "not_found";
      const words = unknown ? `There is no user named ${request.user}.` : `Could not ${doing(request)}. ${why}`;
      if (key === current) manageNote(words, true);
      else showError(words, key);
      return;
    }
    case "history":
      if (jump.onError(frame) || replies.onError(frame)) return;
      if (rooms.has(key)) rooms.get(key).loading = false;
      break;
    case "search":
      searchPanel.onError(frame);
      mentionsView.onError(frame);
      return;
    case "users":
      people.onError(frame);
      composer.mentions.onError(frame);
      return;
    case "react":
      showError(reactionRefused(frame.code, text), key);
      return;
    case "kick":
    case "ban":
    case "role":
    case "topic":
      showError(`Could not ${doing(request)}. ${MODERATION_REFUSED[frame.code] || text}`, key);
      return;
    case "edit":
    case "delete": {
      showError(`Could not ${request.type} that message. ${CHANGE_REFUSED[frame.code] || text}`, key);
      // Refused for now (too fast, the store down): what was typed comes back.
      const room = rooms.get(key);
      if (request.type === "edit" && room && !CHANGE_REFUSED[frame.code]) {
        view.actions.resumeEdit(room, request.id, request.text);
      }
      return;
    }
  }
  showError(text, key);
}

// A join or create refused: the room goes, and the one open before comes back.
function backFrom(key) {
  const room = rooms.get(key);
  if (!room || room.known) return;
  removeRoom(key);
  if (rooms.has(room.openedFrom) && current !== room.openedFrom) current = room.openedFrom;
  saveRooms();
  renderSide();
  showRoom();
}

// Kicked or banned (the same frame): the room is no longer ours, here or on
// the server, so it is not rejoined; the page says who and why until the
// next room is opened.
function onKicked(frame) {
  const key = roomKey(frame.room);
  const room = rooms.get(key);
  if (!room) return;
  const shown = current;
  removeRoom(key);
  saveRooms();
  renderSide();
  if (current !== shown) showRoom();
  const by = frame.by ? ` by ${frame.by}` : "";
  const reason = frame.reason ? `: ${frame.reason}` : ".";
  showError(`You were removed from # ${room.name}${by}${reason}`, null, { keep: true });
}

function addItems(room, items) {
  room.items.push(...items);
  if (room.items.length > MAX_SHOWN) {
    room.items.splice(0, room.items.length - MAX_SHOWN);
    room.complete = false;
    room.oldestId = room.items.find((i) => i.kind === "message")?.message.id ?? room.oldestId;
  }
}

function removeRoom(key) {
  const room = rooms.get(key);
  if (!room) return;
  rooms.delete(key);
  forgetAway(room);
  client.forget(room.name);
  pending.dropRoom(room.name);
  if (current === key) current = firstRoom();
}

// -- rendering ----------------------------------------------------------------

function renderSide() {
  for (const [key, room] of rooms) room.muted = notifier.isMuted(key); // the lists mark it
  renderRoomGroups(rooms, current, client?.user ?? view.me, { onOpen: selectRoom, onLeave: leaveRoom });
  renderAllRooms(allRooms, rooms, joinRoom);
  const room = current && rooms.get(current);
  renderMembers(room, client?.user, null, client ? openDirect : null);
  roomSettings.render(); // the moderation controls, while open
  let unread = 0; // a muted room's are not counted
  for (const r of rooms.values()) if (!r.muted) unread += r.unread;
  document.title = unread ? `(${unread}) chatroom` : "chatroom";
  notifier.showCount(unread); // and on the favicon
}

function showRoom() {
  const room = current && rooms.get(current);
  const direct = Boolean(room && isDirect(room.name));
  let title = "Join a room to start";
  if (room) title = direct ? `@${otherUser(room.name, client?.user ?? view.me)}` : `# ${room.name}`;
  $("room-title").textContent = title;
  $("room-private").hidden = !room?.info?.private || direct;
  // The topic's editor, Invite (private rooms), Unban and Webhooks, for the
  // owner and moderators.
  const running = Boolean(room && client && runs(room, client.user));
  topicEditor.show(room, running);
  $("room-manage").hidden = !running;
  $("invite-form").hidden = !room?.info?.private;
  hookPanel.show(room, running);
  roomSettings.show(room, running); // the panel of the above (settings.js)
  // An archived room (1.2) keeps its history and takes no messages.
  const archived = isArchived(room);
  $("archived-note").hidden = !archived;
  $("message-input").disabled = !room || archived;
  $("composer").querySelector('button[type="submit"]').disabled = !room || archived;
  uploads.render();
  notifier.showRoom(room || null);
  if (archived) $("attach").disabled = true;
  showInAddress(room?.name ?? null); // the address names the open room (address.js)
  replies.show();
  reactions.show(room || null);
  if (!room) openDrawer(true); // on a narrow screen: where to join one
  view.show(room || null, room ? pending.inRoom(room.name) : []);
  renderTyping();
}

function refreshRoomsSoon() {
  clearTimeout(roomsSoon);
  roomsSoon = setTimeout(listRooms, ROOMS_SOON_MS);
}

// All rooms, narrowed to those starting with what is typed in the Room field.
function listRooms() {
  const typed = $("room-input").value.trim().replace(/^#\s*/, "");
  client?.listRooms(ROOM_PREFIX.test(typed) ? typed : "");
}

// -- actions --------------------------------------------------------------------

function selectRoom(key) {
  if (key !== current) {
    flushRead();
    manageNote("");
    const room = rooms.get(key);
    room.divider = room.read; // "New messages" before what came since
  }
  current = key;
  if (!document.hidden) rooms.get(key).unread = 0;
  markReadSoon();
  clearError();
  openDrawer(false);
  openMembers(false);
  showInAddress(rooms.get(key).name, { push: true }); // Back comes back here
  saveRooms();
  renderSide();
  showRoom();
  $("message-input").focus();
}

// The conversation with `user` (a member's or an author's name): open it,
// or ask the server for it (`direct`).
function openDirect(user) {
  const self = client?.user ?? view.me;
  if (!client || !self || !USER_NAME.test(user) || user.toLowerCase() === self.toLowerCase()) return;
  const name = directRoomName(self, user);
  const key = roomKey(name);
  leaving.delete(key);
  if (!rooms.has(key)) {
    addRoom(name, false).openedFrom = current;
    client.direct(user, name);
  }
  selectRoom(key);
}

// The room an address names (a shared link, Back, Forward): open it, joined
// first if need be; a direct room only if it is the user's.
function openLinked(name) {
  const me = (client?.user ?? view.me ?? "").toLowerCase();
  if (!client || roomKey(name) === current) return;
  if (isDirect(name) && !name.slice(1).toLowerCase().split(",").includes(me)) {
    showError("That conversation is between other people.");
    return;
  }
  openAt(name);
}

// Room `name` (a search result's) open, joined first if need be.
function openAt(name) {
  const key = roomKey(name);
  if (rooms.has(key)) selectRoom(key);
  else if (isDirect(name)) openDirect(otherUser(name, client?.user ?? view.me));
  else joinRoom(name);
}

function joinRoom(name) {
  if (!client) return;
  const key = roomKey(name);
  leaving.delete(key);
  if (!rooms.has(key)) {
    addRoom(name, false).openedFrom = current;
    client.join(name);
  }
  selectRoom(key);
}

// At once, online or not: the `leave` goes now or after the next welcome.
function leaveRoom(key) {
  const { name } = rooms.get(key);
  leaving.set(key, name);
  const shown = current;
  removeRoom(key);
  client.leave(name);
  saveRooms();
  renderSide();
  if (current !== shown) showRoom();
}

function onJoinSubmit(event) {
  event.preventDefault();
  const input = $("room-input");
  const name = input.value.trim().replace(/^#\s*/, "");
  if (!ROOM_NAME.test(name)) {
    showError(ROOM_NAME_RULE);
    input.focus();
    return;
  }
  input.value = "";
  refreshRoomsSoon(); // All rooms no longer narrowed by what was typed
  joinRoom(name);
}

// -- new rooms and invitations -----------------------------------------------

function openCreate(open) {
  $("create-form").hidden = !open;
  $("create-toggle").setAttribute("aria-expanded", String(open));
  if (!open) createError("");
}

// Beside the New room form (opened for it).
function createError(text) {
  if (text) openCreate(true);
  $("create-error").textContent = text;
}

function onCreateSubmit(event) {
  event.preventDefault();
  const input = $("create-name");
  const name = input.value.trim().replace(/^#\s*/, "");
  const topic = $("create-topic").value.trim();
  let problem = null;
  if (!ROOM_NAME.test(name)) problem = ROOM_NAME_RULE;
  else if ([...topic].length > MAX_TOPIC) problem = `A topic is ${MAX_TOPIC} characters at most.`;
  else if (rooms.has(roomKey(name))) problem = `A room named ${name} already exists; you are in it.`;
  else if (!client || client.create(name, $("create-private").checked, topic) === null) {
    problem = NOT_CONNECTED;
  }
  if (problem) {
    createError(problem);
    input.focus();
    return;
  }
  createError("");
  const key = roomKey(name);
  leaving.delete(key);
  creating = key;
  addRoom(name, false).openedFrom = current;
  selectRoom(key);
}

function onInvitation({ room, by } = {}) {
  if (typeof room !== "string" || typeof by !== "string") return;
  const key = roomKey(room);
  if (rooms.get(key)?.loaded) return; // in it already
  invitations.set(key, { room, by });
  renderInvitations();
  refreshRoomsSoon(); // All rooms lists it now
}

// A notice for each invitation not yet taken up, with Join and Decline
// (the server forgets it: it is not offered again, here or elsewhere).
function renderInvitations() {
  const list = $("invitations");
  list.replaceChildren();
  for (const [key, { room, by }] of invitations) {
    const item = element("li", "invitation");
    item.append(element("span", "invitation-text", `${by} invited you to ${room}`));
    const drop = () => {
      invitations.delete(key);
      renderInvitations();
    };
    const go = button("", "Join", () => {
      drop();
      joinRoom(room);
    });
    go.setAttribute("aria-label", `Join ${room}`);
    const no = button("secondary", "Decline", () => {
      drop();
      client?.decline(room);
      $("message-input").focus();
    });
    no.setAttribute("aria-label", `Decline the invitation to ${room}`);
    item.append(go, no);
    list.append(item);
  }
}

// What came of an Invite or Unban, beside them.
function manageNote(text, error = false) {
  $("manage-note").textContent = text;
  $("manage-note").classList.toggle("error", error);
}

// Invite or Unban (`kind`) the user typed, in the open room.
function onManageSubmit(kind, event) {
  event.preventDefault();
  const room = current && rooms.get(current);
  const input = $(`${kind}-input`);
  const user = input.value.trim();
  if (!room || !client) return;
  if (!USER_NAME.test(user)) {
    manageNote("User names are 1 to 32 letters, digits, dots, dashes or underscores.", true);
    input.focus();
    return;
  }
  const ref = kind === "invite" ? client.invite(room.name, user) : client.unban(room.name, user);
  if (ref === null) {
    manageNote(NOT_CONNECTED, true);
    return;
  }
  input.value = "";
  manageNote("");
}

// The field's text as a message into the open room (kept until the
// server confirms it); false if there is no room open.
// With the files attached there (1.2), perhaps without text: once those
// still uploading are done; if one fails meanwhile the text comes back.
function sendMessage(text) {
  const room = current && rooms.get(current);
  if (!room) return false;
  const words = text.trim() ? text : "";
  const replyTo = replies.target(room.name); // 1.2
  const go = (files) => {
    const key = roomKey(room.name);
    if (rooms.get(key) !== room) return; // left meanwhile
    if (room.behind) jump.latest(key); // the message shows at the end
    pending.add(room.name, words, files, replyTo);
    if (key === current) view.toBottom();
  };
  let replying = null;
  const abandon = () => {
    composer.restore(text);
    replies.again(room.name, replying);
  };
  const went = uploads.send(room.name, go, abandon);
  if (went) replying = replies.done(room.name);
  return went;
}

// A bot's command, invoked in the open room (1.2): its answer comes as a
// message or an `ephemeral`; a refusal puts the text back in the field.
function invokeCommand(name, args) {
  const room = current && rooms.get(current);
  if (!room) return false;
  if (client.command(room.name, name, args) === null) {
    showError(NOT_CONNECTED);
    return false;
  }
  view.toBottom();
  return true;
}

// Save an edit from the open room's editor; false keeps the editor open.
function saveEdit(room, message, text) {
  if (text === message.text) return true; // nothing changed
  if (!text.trim()) {
    showError("A message cannot be empty; delete it instead.");
    return false;
  }
  if ([...text].length > MAX_TEXT) {
    showError(describeError("too_large"));
    return false;
  }
  if (client.edit(room.name, message.id, text) === null) {
    showError(NOT_CONNECTED);
    return false;
  }
  return true;
}

function deleteMessage(room, message) {
  if (client.deleteMessage(room.name, message.id) === null) {
    showError(NOT_CONNECTED);
    return false;
  }
  return true;
}

// -- moderation ---------------------------------------------------------------

// A moderation request in words, for "Could not …".
function doing({ type, user, room }) {
  switch (type) {
    case "kick":
      return `remove ${user} from # ${room}`;
    case "ban":
      return `ban ${user} from # ${room}`;
    case "role":
      return `change ${user}'s role in # ${room}`;
    case "invite":
      return `invite ${user} to # ${room}`;
    case "unban":
      return `unban ${user} in # ${room}`;
    default:
      return `change the topic of # ${room}`;
  }
}

function removeMember(room, user, ban, reason) {
  if (client.remove(room.name, user, ban, reason) === null) {
    showError(NOT_CONNECTED);
    return false;
  }
  return true;
}

function setRole(room, user, role) {
  if (client.setRole(room.name, user, role) === null) showError(NOT_CONNECTED);
}

// A new topic for `room`, from its editor: true if sent.
function saveTopic(room, topic) {
  if (client.setTopic(room.name, topic) !== null) return true;
  showError(NOT_CONNECTED);
  return false;
}

function loadOlder() {
  const room = current && rooms.get(current);
  if (!room?.loaded || room.complete || room.loading || room.oldestId === null) return;
  if (client.isJoined(room.name) && client.history(room.name, room.oldestId) !== null) {
    room.loading = true;
  }
}

function main() {
  setUpSignIn((issued) => {
    localStorage.setItem(TOKEN_KEY, issued.token);
    localStorage.setItem(USER_KEY, issued.user);
    startChat(issued.token, issued.user);
  });
  $("logout").addEventListener("click", () => logOut());
  $("join-form").addEventListener("submit", onJoinSubmit);
  $("room-input").addEventListener("input", refreshRoomsSoon);
  setUpDrawer();
  setUpMembersPanel();
  followAddress(openLinked);
  $("create-toggle").addEventListener("click", () => {
    const open = $("create-form").hidden;
    openCreate(open);
    if (open) $("create-name").focus();
  });
  $("create-cancel").addEventListener("click", () => {
    openCreate(false);
    $("create-toggle").focus();
  });
  $("create-form").addEventListener("submit", onCreateSubmit);
  $("create-form").addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      openCreate(false);
      $("create-toggle").focus();
    }
  });
  $("invite-form").addEventListener("submit", (event) => onManageSubmit("invite", event));
  $("unban-form").addEventListener("submit", (event) => onManageSubmit("unban", event));
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) flushRead();
    if (!document.hidden && current && rooms.has(current)) {
      rooms.get(current).unread = 0;
      renderSide();
      markReadSoon();
    }
  });
  // Logged out in another tab: this one too.
  window.addEventListener("storage", (event) => {
    if (event.key === TOKEN_KEY && client && event.newValue !== client.token) {
      logOut("You logged out in another tab.", { revokeToken: false });
    }
  });
  const token = localStorage.getItem(TOKEN_KEY);
  const user = localStorage.getItem(USER_KEY);
  if (token && user) startChat(token, user);
  else showSignIn();
}

main();
