"""Posts each line of its standard input into a room, as the bot: for
alerts, logs, build results... from any outside source.

    tail -F /var/log/app.log | CHATROOM_TOKEN=... python examples/feed_bot.py alerts

It reconnects by itself, and a line sent while the link was down is sent
again until the server has it, stored once.
"""

import os
import sys

import trio

from chatroom.client import Client


async def main(room: str) -> None:
    url = os.environ.get("CHATROOM_URL", "ws://localhost:8080/ws")
    async with Client(url, os.environ["CHATROOM_TOKEN"]) as chat:
        await chat.join(room)
        async for line in trio.wrap_file(sys.stdin):
            if line.strip():
                await chat.send(room, line.rstrip("\n")[:4000])


if __name__ == "__main__":
    trio.run(main, sys.argv[1] if len(sys.argv) > 1 else "feed")
