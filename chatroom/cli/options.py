"""The options of each command, made from the declarations in chatroom/config.py.

Every option has a CHATROOM_* environment twin (its default); a flag given
wins, except a repeatable flag, which adds to what the environment lists.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import attrs

from chatroom.config import GROUPS, Option, Settings, options

# What a switch's environment twin says to turn it off; anything else is on.
OFF = ("0", "no", "false", "off")


def add_options(parser: argparse.ArgumentParser, command: str) -> None:
    """The options of the settings `command` takes, each in its group."""
    groups: dict[str | None, Any] = {None: parser}
    for field, option in options():
        if command not in option.commands:
            continue
        if option.group not in groups:
            for title, description in GROUPS.items():  # made in GROUPS' order
                groups.setdefault(title, parser.add_argument_group(title, description))
        _add(groups[option.group], field, option)


def _add(group: Any, field: attrs.Attribute[Any], option: Option) -> None:
    flag = flag_of(field, option)
    how: dict[str, Any] = {"dest": field.name, "help": _help(field, option)}
    if _is_switch(field, option):
        how["action"] = argparse.BooleanOptionalAction
    else:
        how["metavar"] = option.metavar or (
            None if option.choices else flag.removeprefix("--").replace("-", "_").upper()
        )
        how["type"] = option.parse
        how["choices"] = option.choices
        if isinstance(field.default, tuple):
            how["action"] = "append"
    group.add_argument(flag, default=_default(field, option), **how)


def _is_switch(field: attrs.Attribute[Any], option: Option) -> bool:
    """Whether the option is --flag / --no-flag: a yes or no not spelled as choices."""
    return isinstance(field.default, bool) and option.choices is None


def flag_of(field: attrs.Attribute[Any], option: Option) -> str:
    return option.flag or "--" + field.name.replace("_", "-")


def env_of(field: attrs.Attribute[Any], option: Option) -> str | None:
    """The name of the setting's environment variable, if it has one."""
    if option.env is None:
        return None
    name = option.env or flag_of(field, option).removeprefix("--").replace("-", "_").upper()
    return f"CHATROOM_{name}"


def _help(field: attrs.Attribute[Any], option: Option) -> str:
    env = env_of(field, option)
    if env is None:
        return option.help
    if isinstance(field.default, tuple):
        where = f"repeatable (env {env}, comma-separated)"
    else:
        shown = option.shown_default
        if shown is None and field.default is not None and not _is_switch(field, option):
            shown = str(_from_setting(option, field.default))
        where = f"(env {env}; default {shown})" if shown is not None else f"(env {env})"
    if "{env}" in option.help:
        return option.help.replace("{env}", where)
    return f"{option.help} {where}"


def _default(field: attrs.Attribute[Any], option: Option) -> Any:
    """The option's default: its environment variable's value (text, which
    argparse parses as it would the flag's), or else the setting's default."""
    env = env_of(field, option)
    text = None if env is None else os.environ.get(env)
    if isinstance(field.default, tuple):
        # Read once, here: a bad entry fails before the command line is read.
        items = [] if text is None else text.split(",")
        if option.parse is None:
            return [item for item in items if item]
        return [option.parse(item) for item in items if item.strip()]
    if text is None:
        return _from_setting(option, field.default)
    if _is_switch(field, option):
        return text not in OFF
    if field.default is None:
        return text or None  # set but empty: unset
    return text


def _from_setting(option: Option, value: Any) -> Any:
    return value if option.from_setting is None else option.from_setting(value)


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings that `serve`'s `args` give."""
    values: dict[str, Any] = {}
    for field, option in options():
        if "serve" not in option.commands:
            continue
        value = getattr(args, field.name)
        if option.to_setting is not None:
            value = option.to_setting(value)
        elif isinstance(field.default, tuple):
            value = tuple(value)
        values[field.name] = value
        if option.also is not None:
            values.update(option.also(value))
    return Settings(**values)
