"""A peer to measure against: chatroom's protocol on the Python `websockets`
library (asyncio), written the way its documentation shows.

It speaks the subset the benchmarks use (hello, join, send, leave; welcome,
joined, presence, message, left), checks tokens with chatroom's signer and
keeps nothing: no history, no limits, no presence across rooms beyond the
member list.

    CHATROOM_SECRET=... python bench/websockets_server.py PORT
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

from websockets import broadcast
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from chatroom.auth import InvalidToken, TokenSigner

rooms: dict[str, dict[ServerConnection, str]] = {}
last_ids: dict[str, int] = {}


def dumps(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"))


def tell(room: str, event: dict[str, Any]) -> None:
    broadcast(rooms.get(room, {}), dumps(event))


async def handler(ws: ServerConnection, signer: TokenSigner) -> None:
    joined: set[str] = set()
    user = ""
    try:
        hello = json.loads(await ws.recv())
        try:
            user = signer.verify(hello.get("token", ""), now=time.time()).user
        except InvalidToken:
            await ws.close(4401)
            return
        await ws.send(dumps({"type": "welcome", "user": user, "rooms": []}))
        async for text in ws:
            frame = json.loads(text)
            room = frame.get("room", "")
            match frame.get("type"):
                case "join":
                    members = rooms.setdefault(room, {})
                    members[ws] = user
                    joined.add(room)
                    listing = [{"user": u, "since": 0} for u in members.values()]
                    joined_frame = {"type": "joined", "room": room, "members": listing}
                    await ws.send(dumps(joined_frame | {"history": []}))
                    tell(room, {"type": "presence", "room": room, "event": "join", "user": user})
                case "send" if room in joined:
                    last_ids[room] = last_ids.get(room, 0) + 1
                    message = {
                        "type": "message",
                        "room": room,
                        "id": last_ids[room],
                        "user": user,
                        "text": frame["text"],
                        "ts": time.time_ns() // 1_000_000,
                    }
                    tell(room, message)
                case "leave" if room in joined:
                    leave(ws, room, user)
                    joined.discard(room)
                    await ws.send(dumps({"type": "left", "room": room}))
    except ConnectionClosed:
        pass
    finally:
        for room in joined:
            leave(ws, room, user)


def leave(ws: ServerConnection, room: str, user: str) -> None:
    members = rooms.get(room, {})
    members.pop(ws, None)
    if not members:
        rooms.pop(room, None)
    else:
        tell(room, {"type": "presence", "room": room, "event": "leave", "user": user})


async def main(port: int) -> None:
    signer = TokenSigner(os.environ["CHATROOM_SECRET"].encode())

    async def handle(ws: ServerConnection) -> None:
        await handler(ws, signer)

    async with serve(handle, "127.0.0.1", port, max_size=65536, compression=None):
        print(f"listening on http://127.0.0.1:{port}", file=sys.stderr, flush=True)
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
