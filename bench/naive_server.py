"""The reference to beat: chatroom's protocol built the simplest way.

trio-websocket's `serve_websocket`, one task per connection, and fan-out by
the sender's own task awaiting `send_message` on every member in turn. It
speaks the subset the load generator uses (hello, join, send; welcome,
joined, presence, message) and checks tokens with chatroom's signer, so both
servers do the same work per connection.

    CHATROOM_SECRET=... python bench/naive_server.py PORT
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket

from chatroom.auth import InvalidToken, TokenSigner

rooms: dict[str, dict[WebSocketConnection, str]] = {}
last_ids: dict[str, int] = {}


async def broadcast(room: str, event: dict[str, Any]) -> None:
    text = json.dumps(event, separators=(",", ":"))
    for member in list(rooms.get(room, {})):
        try:
            await member.send_message(text)
        except ConnectionClosed:
            pass


async def handler(request: WebSocketRequest, signer: TokenSigner) -> None:
    ws = await request.accept()
    joined: list[str] = []
    try:
        hello = json.loads(await ws.get_message())
        try:
            user = signer.verify(hello.get("token", ""), now=time.time()).user
        except InvalidToken:
            await ws.aclose(4401)
            return
        await ws.send_message(json.dumps({"type": "welcome", "user": user}))
        while True:
            frame = json.loads(await ws.get_message())
            room = frame.get("room", "")
            if frame.get("type") == "join":
                members = rooms.setdefault(room, {})
                members[ws] = user
                joined.append(room)
                listing = [{"user": u, "since": 0} for u in members.values()]
                await ws.send_message(
                    json.dumps({"type": "joined", "room": room, "members": listing, "history": []})
                )
                await broadcast(
                    room, {"type": "presence", "room": room, "event": "join", "user": user}
                )
            elif frame.get("type") == "send" and ws in rooms.get(room, {}):
                last_ids[room] = last_ids.get(room, 0) + 1
                message = {
                    "type": "message",
                    "room": room,
                    "id": last_ids[room],
                    "user": user,
                    "text": frame["text"],
                    "ts": time.time_ns() // 1_000_000,
                }
                await broadcast(room, message)
    except ConnectionClosed:
        pass
    finally:
        for room in joined:
            rooms.get(room, {}).pop(ws, None)


async def main(port: int) -> None:
    signer = TokenSigner(os.environ["CHATROOM_SECRET"].encode())

    async def handle(request: WebSocketRequest) -> None:
        await handler(request, signer)

    print(f"listening on http://127.0.0.1:{port}", file=sys.stderr, flush=True)
    await serve_websocket(handle, "127.0.0.1", port, ssl_context=None, max_message_size=65536)


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]))
