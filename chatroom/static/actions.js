// Edit and Delete on a message: its buttons (after those `moreTools(room,
// message)` adds: Reply and React, 1.2), the editor that takes the place
// of its text (Enter saves, Shift+Enter breaks the line, Escape cancels) and
// the in-page confirmation of a delete. Who may do which is the page's to
// say; what is open (one editor or one confirmation) outlives a redraw of the
// list. Every control carries `data-focus`, so a redraw can put focus back.

import { button, element } from "./dom.js";

const EDITOR_MAX_ROWS = 8;

function labelled(node, label, focus) {
  node.setAttribute("aria-label", label);
  node.dataset.focus = focus;
  return node;
}

export class MessageActions {
  // `canEdit(room, message)` and `canDelete(room, message)` say whether to
  // offer them; `onSave(room, message, text)` and `onDelete(room, message)`
  // answer true when done (sent, or nothing to send) and false to stay open;
  // `redraw(room, id)` renders message `id` again if `room` is open, and
  // answers its new list item (or null).
  constructor({ canEdit, canDelete, onSave, onDelete, redraw }) {
    Object.assign(this, { canEdit, canDelete, onSave, onDelete, redraw });
    this.editing = null; // {room, id, draft}
    this.confirming = null; // {room, id}
  }

  isEditing(room, id) {
    return this.editing?.room === room && this.editing.id === id;
  }

  isConfirming(room, id) {
    return this.confirming?.room === room && this.confirming.id === id;
  }

  // The buttons for `message`, the delete confirmation, or null.
  tools(room, message) {
    if (message.deleted) return null;
    if (this.isConfirming(room, message.id)) return this.confirmation(room, message);
    const edit = this.canEdit(room, message);
    const remove = this.canDelete(room, message);
    const more = this.moreTools?.(room, message) ?? []; // Reply, React (1.2)
    if (!edit && !remove && !more.length) return null;
    const tools = element("div", "tools");
    tools.append(...more);
    if (edit) {
      const open = button("tool", "Edit", () => this.startEdit(room, message));
      tools.append(labelled(open, "Edit message", "edit"));
    }
    if (remove) {
      const ask = button("tool", "Delete", () => this.askDelete(room, message));
      tools.append(labelled(ask, "Delete message", "delete"));
    }
    return tools;
  }

  confirmation(room, message) {
    const box = element("div", "confirm");
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "Delete this message?");
    const yes = button("danger", "Delete", () => this.confirmDelete(room, message));
    yes.dataset.focus = "confirm";
    const no = button("secondary", "Cancel", () => this.closeDelete(room, message.id));
    no.dataset.focus = "keep";
    box.append(element("span", "", "Delete this message?"), yes, no);
    box.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.closeDelete(room, message.id);
    });
    return box;
  }

  // The editor in place of `message`'s text.
  editor(room, message) {
    const state = this.editing;
    const form = element("form", "editor");
    const area = labelled(element("textarea"), "Edit message text", "text");
    area.value = state.draft;
    area.rows = Math.min(EDITOR_MAX_ROWS, Math.max(2, state.draft.split("\n").length));
    area.addEventListener("input", () => (state.draft = area.value));
    area.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      } else if (event.key === "Escape") {
        event.preventDefault();
        this.closeEdit(room, message.id);
      }
    });
    const save = element("button", "", "Save");
    save.type = "submit";
    save.dataset.focus = "save";
    const cancel = button("secondary", "Cancel", () => this.closeEdit(room, message.id));
    cancel.dataset.focus = "cancel";
    const row = element("div", "editor-actions");
    row.append(save, cancel, element("span", "muted", "Enter saves, Escape cancels"));
    form.append(area, row);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (this.onSave(room, message, area.value)) this.closeEdit(room, message.id);
      else area.focus();
    });
    return form;
  }

  startEdit(room, message) {
    this.closeAll();
    this.editing = { room, id: message.id, draft: message.text };
    focusIn(this.redraw(room, message.id), "text");
  }

  // An edit the server refused: its editor again, with what was typed
  // (unless another is open by now).
  resumeEdit(room, id, draft) {
    if (this.editing) return;
    this.closeAll();
    this.editing = { room, id, draft };
    focusIn(this.redraw(room, id), "text");
  }

  closeEdit(room, id) {
    if (!this.isEditing(room, id)) return;
    this.editing = null;
    focusIn(this.redraw(room, id), "edit");
  }

  askDelete(room, message) {
    this.closeAll();
    this.confirming = { room, id: message.id };
    focusIn(this.redraw(room, message.id), "keep");
  }

  confirmDelete(room, message) {
    if (this.onDelete(room, message)) this.closeDelete(room, message.id);
  }

  closeDelete(room, id) {
    if (!this.isConfirming(room, id)) return;
    this.confirming = null;
    focusIn(this.redraw(room, id), "delete");
  }

  // Message `id` is gone: nothing of it stays open.
  forget(room, id) {
    if (this.isEditing(room, id)) this.editing = null;
    if (this.isConfirming(room, id)) this.confirming = null;
  }

  closeAll() {
    const open = [this.editing, this.confirming];
    this.editing = this.confirming = null;
    for (const what of open) if (what) this.redraw(what.room, what.id);
  }
}

// Focus the control `name` in `container` (a text field with the caret at
// its end); false if there is none.
export function focusIn(container, name) {
  const control = container?.querySelector(`[data-focus="${name}"]`);
  if (!control) return false;
  control.focus();
  if (control instanceof HTMLTextAreaElement) control.setSelectionRange(control.value.length, control.value.length);
  return true;
}
