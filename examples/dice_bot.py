"""A bot with /roll and /echo.

    python -m chatroom user add dice --bot --owner alice     # prints its token
    CHATROOM_TOKEN=... python -m chatroom bot run examples/dice_bot.py:bot

or `CHATROOM_TOKEN=... python examples/dice_bot.py`. In the web client,
type `/roll 20` in a room.
"""

import os
import random

from chatroom.client import Bot

bot = Bot()


@bot.command()
async def roll(ctx, sides: int = 6):
    """Roll a die."""
    await ctx.respond(f"{ctx.user} rolled {random.randint(1, sides)} (d{sides})")


@bot.command()
async def echo(ctx, text: str):
    """Say it back, for your eyes only."""
    await ctx.respond(text, ephemeral=True)


if __name__ == "__main__":
    bot.run(os.environ.get("CHATROOM_URL", "ws://localhost:8080/ws"), os.environ["CHATROOM_TOKEN"])
