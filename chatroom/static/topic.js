// The topic under the room's name, and its editor for the owner and
// moderators: open for one room at a time, it closes when they lose the
// role or another room opens; Enter saves, Escape cancels.

import { $ } from "./dom.js";
import { MAX_TOPIC } from "./moderation.js";

export class TopicEditor {
  // `openRoom()` is the open room (or null); `save(room, topic)` asks the
  // server for the new topic (true if sent); `error(text)` tells of a problem.
  constructor({ openRoom, save, error }) {
    Object.assign(this, { openRoom, save, error });
    this.room = null; // the room the editor is open for
    $("topic-edit").addEventListener("click", () => this.open());
    $("topic-form").addEventListener("submit", (event) => this.submit(event));
    $("topic-cancel").addEventListener("click", () => this.close(true));
    $("topic-input").addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        this.close(true);
      }
    });
  }

  // The open `room`'s topic (or none), and whether the user may edit it.
  show(room, mayEdit) {
    const topic = room?.info?.topic ?? "";
    $("room-topic").textContent = topic;
    $("room-topic").hidden = !topic;
    if (this.room !== null && (this.room !== room || !mayEdit)) this.close(false);
    $("topic-edit").hidden = !mayEdit || this.room !== null;
  }

  open() {
    const room = this.openRoom();
    if (!room) return;
    this.room = room;
    $("topic-input").value = room.info?.topic ?? "";
    $("topic-form").hidden = false;
    $("topic-edit").hidden = true;
    $("topic-input").focus();
  }

  // `back`: focus returns to Edit topic.
  close(back) {
    const open = this.room !== null;
    this.room = null;
    $("topic-form").hidden = true;
    $("topic-edit").hidden = !open;
    if (back) $("topic-edit").focus();
  }

  submit(event) {
    event.preventDefault();
    const room = this.room;
    if (!room) return;
    const topic = $("topic-input").value.trim();
    if ([...topic].length > MAX_TOPIC) {
      this.error(`A topic is ${MAX_TOPIC} characters at most.`);
      return;
    }
    if (topic !== (room.info?.topic ?? "") && !this.save(room, topic)) return;
    this.close(true);
  }
}
