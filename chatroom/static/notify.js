// Notifications (1.2, issue 27): while the page is hidden, a direct
// message or a mention of the user (MSG's `mentions`; a `mention` frame for
// a room this page has not joined) shows a system notification (the
// browser's Notification API, asked for only when the user turns it on with
// the button: never at load) and plays a short sound made with the Web
// Audio API (no file; the user can turn it off). Never for the user's own
// messages, nor for a room the user muted (Mute in the room's head, kept in
// localStorage; the room lists mark it). The count of unread messages
// (title) is drawn on the favicon too. Clicking a notification opens its
// room at the message.

import { $ } from "./dom.js";
import { isDirect, mentionsOf, roomKey } from "./protocol.js";

const ENABLED_KEY = "chatroom.notify"; // "on" once the user turned notifications on here
const SOUND_KEY = "chatroom.sound"; // "off": no sound
const MUTED_KEY = "chatroom.muted"; // the roomKeys of the muted rooms, as JSON
const BODY_CHARS = 200; // of a longer text, this much shows
const REMEMBERED = 500; // messages already told of, kept to tell of each once
const ICON_PX = 32;

function loadMuted() {
  try {
    const list = JSON.parse(localStorage.getItem(MUTED_KEY) || "[]");
    return Array.isArray(list) ? list.filter((key) => typeof key === "string") : [];
  } catch {
    return [];
  }
}

// A message's text for a notification: on one line, cut short.
function bodyOf(message) {
  const text = typeof message.text === "string" ? message.text.replace(/\s+/g, " ").trim() : "";
  const chars = [...text];
  if (chars.length > BODY_CHARS) return `${chars.slice(0, BODY_CHARS - 1).join("")}…`;
  if (text) return text;
  const files = Array.isArray(message.files) ? message.files.map((file) => file?.name).filter(Boolean) : [];
  return files.length ? `Sent ${files.join(", ")}` : "";
}

// The favicon: a speech bubble, with the count in a red disc when there is one.
function drawIcon(count) {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = ICON_PX;
  const g = canvas.getContext("2d");
  if (!g) return null;
  g.fillStyle = "#3056d3";
  g.beginPath();
  if (g.roundRect) g.roundRect(1, 3, 26, 19, 6);
  else g.rect(1, 3, 26, 19);
  g.moveTo(6, 21);
  g.lineTo(5, 29);
  g.lineTo(14, 21);
  g.fill();
  const words = count > 99 ? "99+" : String(count);
  g.fillStyle = "#d93025";
  g.beginPath();
  g.arc(21, 21, 11, 0, 2 * Math.PI);
  g.fill();
  g.fillStyle = "#ffffff";
  g.font = `bold ${[16, 16, 13, 10][words.length]}px sans-serif`;
  g.textAlign = "center";
  g.textBaseline = "middle";
  g.fillText(words, 21, 22);
  return canvas.toDataURL("image/png");
}

export class Notifier {
  // `me()` the signed-in user; `openRoom()` the open room (or null);
  // `open(name, id)` opens room `name` at message `id`; `changed()` after a
  // room was muted or unmuted (the room lists are drawn again).
  constructor({ me, openRoom, open, changed }) {
    Object.assign(this, { me, openRoom, open, changed });
    this.enabled = localStorage.getItem(ENABLED_KEY) === "on";
    this.sound = localStorage.getItem(SOUND_KEY) !== "off";
    this.muted = new Set(loadMuted());
    this.told = new Set(); // "roomKey id" of the messages notified
    this.shown = new Set(); // the notifications on screen
    this.audio = null; // the AudioContext, made on a gesture
    this.count = 0; // on the favicon
    this.icon = document.querySelector('link[rel~="icon"]');
    this.plainIcon = this.icon?.getAttribute("href") ?? "";
    $("notify-toggle").addEventListener("click", () => this.toggle());
    $("sound-toggle").addEventListener("click", () => this.toggleSound());
    $("room-mute").addEventListener("click", () => this.toggleMute());
    // Browsers start audio only after a gesture: the first one here readies it.
    const ready = () => {
      if (this.sound) this.audioContext();
    };
    document.addEventListener("pointerdown", ready, { capture: true });
    document.addEventListener("keydown", ready, { capture: true });
    document.addEventListener("visibilitychange", () => {
      if (document.hidden) return;
      for (const note of this.shown) note.close?.();
      this.shown.clear();
    });
    this.render();
  }

  supported() {
    return typeof window.Notification === "function";
  }

  // Turn notifications on (asking the browser now, on the user's click) or off.
  async toggle() {
    if (!this.supported()) return;
    if (this.enabled && Notification.permission === "granted") {
      this.setEnabled(false);
      return;
    }
    let permission = Notification.permission;
    if (permission === "default") {
      try {
        permission = await Notification.requestPermission();
      } catch {
        permission = Notification.permission;
      }
    }
    this.setEnabled(permission === "granted");
  }

  setEnabled(on) {
    this.enabled = on;
    localStorage.setItem(ENABLED_KEY, on ? "on" : "off");
    this.render();
  }

  toggleSound() {
    this.sound = !this.sound;
    localStorage.setItem(SOUND_KEY, this.sound ? "on" : "off");
    if (this.sound) this.beep(); // what it sounds like
    this.render();
  }

  // The two buttons as things are: notifications on, off, or blocked by the browser.
  render() {
    const toggle = $("notify-toggle");
    const permission = this.supported() ? Notification.permission : "denied";
    const on = this.enabled && permission === "granted";
    toggle.hidden = !this.supported();
    toggle.setAttribute("aria-pressed", String(on));
    toggle.disabled = permission === "denied";
    toggle.textContent = on ? "Notifications on" : "Turn on notifications";
    if (permission === "denied") toggle.textContent = "Notifications blocked";
    toggle.title =
      permission === "denied"
        ? "The browser blocks notifications for this site: allow them in its site settings."
        : "Direct messages and mentions of you, while this page is hidden";
    const sound = $("sound-toggle");
    sound.setAttribute("aria-pressed", String(this.sound));
    sound.title = this.sound ? "A sound for direct messages and mentions: on" : "No sound";
  }

  isMuted(name) {
    return this.muted.has(roomKey(name));
  }

  // Mute in the head of the open room `room` (or none).
  showRoom(room) {
    const mute = $("room-mute");
    mute.hidden = !room;
    if (!room) return;
    const muted = this.isMuted(room.name);
    mute.setAttribute("aria-pressed", String(muted));
    mute.textContent = muted ? "Muted" : "Mute";
    mute.title = muted ? "Muted: no notifications or sounds from this room" : "No notifications or sounds from this room";
  }

  toggleMute() {
    const room = this.openRoom();
    if (!room) return;
    const key = roomKey(room.name);
    if (!this.muted.delete(key)) this.muted.add(key);
    localStorage.setItem(MUTED_KEY, JSON.stringify([...this.muted]));
    this.showRoom(room);
    this.changed();
  }

  // A message that came just now (in a room joined here, or a direct
  // room's anywhere).
  onMessage(message) {
    const me = this.me();
    if (typeof message?.room !== "string" || !Number.isInteger(message.id) || !me) return;
    const direct = isDirect(message.room);
    if (!direct && !mentionsOf(message, me)) return;
    this.alert(message, direct);
  }

  // Someone mentioned the user (`mention`): told here only if the message
  // itself does not come to this page (its room not joined: `joined`
  // false; a direct room's messages come to every connection).
  onMention(frame, joined) {
    if (joined || typeof frame?.room !== "string" || !Number.isInteger(frame.id) || isDirect(frame.room)) return;
    this.alert({ room: frame.room, id: frame.id, user: frame.by }, false);
  }

  alert(message, direct) {
    const me = this.me();
    const by = typeof message.user === "string" ? message.user : "";
    if (!by || by.toLowerCase() === me?.toLowerCase() || this.isMuted(message.room) || !document.hidden) return;
    const told = `${roomKey(message.room)} ${message.id}`;
    if (this.told.has(told)) return;
    this.told.add(told);
    if (this.told.size > REMEMBERED) this.told.delete(this.told.values().next().value);
    this.beep();
    if (!this.enabled || !this.supported() || Notification.permission !== "granted") return;
    const title = direct ? by : `${by} mentioned you in # ${message.room}`;
    const body = "text" in message ? bodyOf(message) : `Open # ${message.room} to read it.`;
    this.show(title, { body, tag: told, silent: true }, () => this.open(message.room, message.id));
  }

  show(title, options, onClick) {
    let note;
    try {
      note = new Notification(title, options);
    } catch {
      // Where pages may not construct them (Android), the service worker shows it.
      navigator.serviceWorker?.getRegistration().then((worker) => worker?.showNotification(title, options));
      return;
    }
    this.shown.add(note);
    note.onclose = () => this.shown.delete(note);
    note.onclick = () => {
      window.focus();
      note.close();
      onClick();
    };
  }

  audioContext() {
    const Context = window.AudioContext ?? window.webkitAudioContext;
    if (!Context) return null;
    this.audio ??= new Context();
    if (this.audio.state === "suspended") this.audio.resume().catch(() => {});
    return this.audio;
  }

  // Two short notes, falling, quiet.
  beep() {
    if (!this.sound) return;
    const audio = this.audioContext();
    if (!audio) return;
    const at = audio.currentTime;
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.type = "sine";
    tone.frequency.setValueAtTime(880, at);
    tone.frequency.setValueAtTime(660, at + 0.09);
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.12, at + 0.01);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.25);
    tone.connect(gain).connect(audio.destination);
    tone.start(at);
    tone.stop(at + 0.3);
  }

  // The unread count on the favicon (none: the page's own icon).
  showCount(count) {
    if (count === this.count || !this.icon) return;
    this.count = count;
    const drawn = count > 0 ? drawIcon(count) : null;
    this.icon.setAttribute("href", drawn ?? this.plainIcon);
    this.icon.dataset.count = String(count);
  }

  // Logged out: what was told of is forgotten (the choices stay, this browser's).
  reset() {
    this.told.clear();
    for (const note of this.shown) note.close?.();
    this.shown.clear();
    this.showCount(0);
  }
}
