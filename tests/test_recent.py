"""Recent messages in memory: bounded per room and by one budget for all."""

from __future__ import annotations

from chatroom.domain import ChatMessage
from chatroom.rooms.recent import MAX_MESSAGES, CacheBudget, RecentMessages, message_bytes


def messages(count: int, start: int = 1, size: int = 1000) -> list[ChatMessage]:
    return [ChatMessage("r", i, "u", "x" * size, 0) for i in range(start, start + count)]


def test_a_room_keeps_its_latest_messages_without_gaps() -> None:
    recent = RecentMessages(CacheBudget(), messages(250))
    assert len(recent) == MAX_MESSAGES
    assert recent.after(49) is None  # 50 is no longer kept
    assert [m.id for m in recent.after(240) or []] == list(range(241, 251))
    assert recent.after(250) == []


def test_all_rooms_together_stay_within_the_budget() -> None:
    one = message_bytes(messages(1)[0])
    budget = CacheBudget(max_bytes=100 * one)
    rooms = [RecentMessages(budget, messages(60)) for _ in range(4)]
    assert budget.total <= budget.max_bytes
    assert budget.total == sum(room.bytes for room in rooms)
    rooms[0].extend(messages(10, start=61))  # a busy room over budget cuts itself first
    assert budget.total <= budget.max_bytes
    assert [m.id for m in rooms[0].latest(1)] == [70]
    for room in rooms:
        room.close()
    assert budget.total == 0
