"""Protocol 1.2, bots and services: commands a bot registers, their
invocation, and the bot's answers (requests parsed, events encoded)."""

from __future__ import annotations

import re
from typing import Any

import attrs

from chatroom.protocol._errors import Ref
from chatroom.protocol._events import _with_ref, dumps
from chatroom.protocol._fields import Fields, is_encodable

COMMAND_NAME = re.compile(r"[a-z0-9_-]{1,32}")
MAX_COMMANDS = 100  # in one `register`
MAX_DESCRIPTION_CHARS = 200  # a command's description, and its usage
MAX_ARGS_CHARS = 4000
MAX_ID_CHARS = 64  # an invocation's id, as the server made it


@attrs.frozen
class CommandSpec:
    """A command as its bot declares it."""

    name: str
    description: str = ""
    usage: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "usage": self.usage}


@attrs.frozen
class Register:
    """A bot's connection declares its commands (replacing what it declared)."""

    commands: tuple[CommandSpec, ...]
    ref: Ref = None


@attrs.frozen
class ListCommands:
    ref: Ref = None


@attrs.frozen
class Invoke:
    """A member of `room` invokes the command `name`."""

    room: str
    name: str
    args: str = ""
    ref: Ref = None


@attrs.frozen
class Respond:
    """A bot answers invocation `id`."""

    id: str
    text: str
    ephemeral: bool = False
    ref: Ref = None


@attrs.frozen
class Defer:
    """A bot will answer invocation `id` later (no "did not answer")."""

    id: str
    ref: Ref = None


BotRequest = Register | ListCommands | Invoke | Respond | Defer


def parse_bot_request(kind: str, fields: Fields) -> BotRequest | None:
    """The request of frame type `kind`, if it is one of these."""
    ref = fields.ref
    match kind:
        case "register":
            return Register(_commands(fields), ref)
        case "commands":
            return ListCommands(ref)
        case "command":
            room = fields.room()
            return Invoke(room, _name(fields, fields.string("name")), _args(fields), ref)
        case "respond":
            ephemeral = fields.obj.get("ephemeral", False)
            if not isinstance(ephemeral, bool):
                raise fields.error("field 'ephemeral' must be true or false")
            return Respond(_id(fields), fields.text(), ephemeral, ref)
        case "defer":
            return Defer(_id(fields), ref)
    return None


def _commands(fields: Fields) -> tuple[CommandSpec, ...]:
    declared = fields.obj.get("commands")
    if not isinstance(declared, list) or len(declared) > MAX_COMMANDS:
        raise fields.error(f"field 'commands' must be a list of at most {MAX_COMMANDS}")
    specs: dict[str, CommandSpec] = {}
    for command in declared:
        if not isinstance(command, dict):
            raise fields.error("each command is an object with a name")
        name = _name(fields, command.get("name"))
        if name in specs:
            raise fields.error(f"command {name!r} is declared twice")
        texts = [command.get(key, "") for key in ("description", "usage")]
        for text in texts:
            if not isinstance(text, str) or len(text) > MAX_DESCRIPTION_CHARS:
                raise fields.error(
                    f"a description and a usage are strings of at most "
                    f"{MAX_DESCRIPTION_CHARS} characters"
                )
            if not is_encodable(text):
                raise fields.error("text must be valid Unicode (no lone surrogates)")
        specs[name] = CommandSpec(name, texts[0], texts[1])
    return tuple(specs.values())


def _name(fields: Fields, name: object) -> str:
    if not isinstance(name, str) or not COMMAND_NAME.fullmatch(name):
        raise fields.error("a command's name is 1 to 32 characters from a-z 0-9 _ -")
    return name


def _args(fields: Fields) -> str:
    args = fields.obj.get("args", "")
    if not isinstance(args, str) or len(args) > MAX_ARGS_CHARS or not is_encodable(args):
        raise fields.error(f"field 'args' is a string of at most {MAX_ARGS_CHARS} characters")
    return args


def _id(fields: Fields) -> str:
    invocation = fields.string("id")
    if not 1 <= len(invocation) <= MAX_ID_CHARS:
        raise fields.error("no such command invocation")
    return invocation


# -- what the server sends ------------------------------------------------------


def encode_commands(commands: list[tuple[CommandSpec, str]], ref: Ref = None) -> str:
    """What can be invoked now, each command with its bot."""
    listed = [{**spec.as_json(), "bot": bot} for spec, bot in commands]
    return _with_ref({"type": "commands", "commands": listed}, ref)


def encode_invocation(invocation: str, room: str, user: str, name: str, args: str) -> str:
    """A command, for its bot."""
    frame = {"type": "command", "id": invocation, "room": room, "user": user}
    return dumps({**frame, "name": name, "args": args})


def encode_ephemeral(room: str, bot: str, text: str) -> str:
    """For the invoker's eyes only, never stored."""
    return dumps({"type": "ephemeral", "room": room, "bot": bot, "text": text})
