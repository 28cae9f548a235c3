"""Log lines for people (text) or for log pipelines (JSON, one object a line).

A JSON line has `time` (UTC, ISO 8601, milliseconds), `level`, `logger` and
`message`, then whichever of EVENT_FIELDS the call passed in `extra=`, and
`exception` with the traceback when there is one. No log call in chatroom
passes a password, a token or the secret, in either format.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FORMATS = ("text", "json")
# What a log call may add to its line with `extra=`: the event's subjects.
EVENT_FIELDS = ("session", "user", "room", "client", "close_code", "worker")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        entry: dict[str, Any] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in EVENT_FIELDS:
            value = record.__dict__.get(field)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str, log_format: str) -> None:
    """Log to stderr at `level` ("info", ...) in `log_format` ("text" or "json")."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
