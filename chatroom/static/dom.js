// Small helpers for building the page. Text goes in as text nodes, never as HTML.

export const $ = (id) => document.getElementById(id);

export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function button(className, text, onClick) {
  const node = element("button", className, text);
  node.type = "button";
  node.addEventListener("click", onClick);
  return node;
}

// Another user's name as a link to the conversation with them (it opens
// that conversation in the page): "Message <user>".
export function userLink(className, user, onOpen) {
  const link = element("a", className, user);
  link.href = "#";
  link.setAttribute("aria-label", `Message ${user}`);
  link.title = `Direct message ${user}`;
  link.addEventListener("click", (event) => {
    event.preventDefault();
    onOpen(user);
  });
  return link;
}

// The small "bot" beside a bot's name (on its messages, in Members).
export function botBadge() {
  const badge = element("span", "bot-badge", "bot");
  badge.title = "A bot: an account run by a program";
  return badge;
}

export const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

// A box over the page, `#id`, opened by its button `#id-open`: shown, with
// where focus was kept in `owner.back`.
export function openBox(owner, id) {
  if ($(id).hidden) owner.back = document.activeElement;
  $(id).hidden = false;
  $(`${id}-open`).setAttribute("aria-expanded", "true");
}

// Hidden again (false if it was); `back`: focus goes back where it was, or
// to its button.
export function closeBox(owner, id, back) {
  if ($(id).hidden) return false;
  $(id).hidden = true;
  $(`${id}-open`).setAttribute("aria-expanded", "false");
  if (back && owner.back?.isConnected && !owner.back.closest(`#${id}`)) owner.back.focus();
  else if (back) $(`${id}-open`).focus();
  owner.back = null;
  return true;
}

// A box over the page owned by `owner` (with close(back)): Escape closes it,
// focus going back; and it closes when another such box opens (each says so
// with the "chatroom:panel" event as it opens).
export function overlayBox(box, owner) {
  box.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    event.preventDefault();
    event.stopPropagation();
    owner.close(true);
  });
  document.addEventListener("chatroom:panel", (event) => {
    if (event.detail !== owner) owner.close(false);
  });
}

// A key pressed in a field under its list of choices (`list`: open, shown,
// active, render(), pick(choice), close()): true if the list took it.
// Arrows move, Enter or Tab picks, Escape closes; Enter on a choice typed
// out in full (`typedInFull`) is the field's: it sends, and the field's
// change closes the list.
export function listKey(list, event, typedInFull) {
  if (!list.open || event.isComposing) return false;
  const count = list.shown.length;
  switch (event.key) {
    case "ArrowDown":
    case "ArrowUp":
      if (!count) return false;
      list.active = (list.active + (event.key === "ArrowDown" ? 1 : count - 1)) % count;
      list.render();
      return true;
    case "Tab":
    case "Enter": {
      if (!count || event.shiftKey) return false;
      const choice = list.shown[list.active];
      if (event.key === "Enter" && typedInFull(choice)) return false;
      list.pick(choice);
      return true;
    }
    case "Escape":
      list.close();
      return true;
    default:
      return false;
  }
}
