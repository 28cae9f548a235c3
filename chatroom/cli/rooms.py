"""`python -m chatroom room list|owner ROOM USER|archive ROOM|delete ROOM`:
rooms for the operator, without a server. Running servers on the database
see each change within a few seconds (see rooms/operator.py)."""

from __future__ import annotations

import argparse
import sys

import trio

from chatroom.cli.options import add_options
from chatroom.cli.state import database_failure, database_url, running_store
from chatroom.domain import direct_room_users, is_valid_room_name, is_valid_user_name
from chatroom.store import NameClash, SchemaTooNew, Store, StoreUnavailable, ownership

ROOM_HELP = "the room's name (any case)"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("room", help="list, hand over, archive or delete rooms")
    actions = parser.add_subparsers(dest="room_command", metavar="ACTION", required=True)
    listed = actions.add_parser(
        "list",
        help="list every room",
        description="Print each room: name, owner, private or public, archived, messages "
        "sent, users who have it among their rooms.",
    )
    owner = actions.add_parser(
        "owner",
        help="make USER the owner of ROOM",
        description="Make USER (an account, or a user known from a hello) the owner of ROOM; "
        "its owner until now becomes a moderator.",
    )
    archive = actions.add_parser(
        "archive",
        help="archive ROOM (or, with --undo, take it out of the archive)",
        description="Archive ROOM: its history is kept, it takes no new messages, edits or "
        "reactions, and it is listed only to its members.",
    )
    archive.add_argument("--undo", action="store_true", help="take the room out of the archive")
    delete = actions.add_parser(
        "delete",
        help="delete ROOM and everything in it",
        description="Delete ROOM with its messages, files, webhooks and lists, for good. "
        "Its members on running servers are sent away.",
    )
    for action in (owner, archive, delete):
        action.add_argument("room", metavar="ROOM", help=ROOM_HELP)
    owner.add_argument("user", metavar="USER", help="1-32 characters: A-Z a-z 0-9 _ - .")
    for action in (listed, owner, archive, delete):
        add_options(action, "room")


def room_command(args: argparse.Namespace) -> int:
    """What was done, on stderr; `list` on stdout."""
    action = args.room_command
    if action != "list" and not is_valid_room_name(args.room):
        print("chatroom: no such room name", file=sys.stderr)
        return 2
    if action in ("owner", "archive") and direct_room_users(args.room) is not None:
        print("chatroom: a direct room has no owner and is never archived", file=sys.stderr)
        return 2
    if action == "owner" and not is_valid_user_name(args.user):
        print("chatroom: USER must be 1-32 characters from A-Z a-z 0-9 _ - .", file=sys.stderr)
        return 2
    url = database_url(args.database_url, args.data_dir)
    if failure := database_failure(url):
        print(f"chatroom: {failure}", file=sys.stderr)
        return 2

    async def run() -> tuple[bool, str]:
        async with running_store(url) as store:
            return await act(store)

    async def act(store: Store) -> tuple[bool, str]:
        if action == "list":
            for room in await store.read(ownership.summaries):
                print(
                    f"{room.name}\t{room.owner or '-'}\t"
                    f"{'private' if room.private else 'public'}\t"
                    f"{'archived' if room.archived else '-'}\t"
                    f"{room.messages}\t{room.members}"
                )
            return True, ""
        if action == "owner":
            owner = await store.write(
                ownership.as_operator, ownership.transfer, args.room, args.user, "operator"
            )
            if owner is None:
                return False, f"no room {args.room!r} or no user {args.user!r}"
            return True, f"{owner} owns {args.room} now"
        if action == "archive":
            archived = not args.undo
            if not await store.write(
                ownership.as_operator, ownership.set_archived, args.room, archived
            ):
                return False, f"no room {args.room!r}"
            return True, f"{'archived' if archived else 'unarchived'} {args.room}"
        if not await store.write(ownership.as_operator, ownership.delete_room, args.room):
            return False, f"no room {args.room!r}"
        return True, f"deleted {args.room}"

    try:
        done, said = trio.run(run)
    except* (StoreUnavailable, SchemaTooNew, NameClash, ValueError) as group:
        done, said = False, f"cannot open the database: {group.exceptions[0]}"
    if said:
        print(said if done else f"chatroom: {said}", file=sys.stderr)
    return 0 if done else 1
