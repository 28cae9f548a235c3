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
