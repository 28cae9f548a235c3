"""`python -m chatroom.healthcheck`: exit 0 if the local server answers
/healthz (for container health checks; reads CHATROOM_PORT)."""

from __future__ import annotations

import os
import sys
import urllib.request

TIMEOUT_S = 3


def main() -> int:
    port = os.environ.get("CHATROOM_PORT", "8080")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=TIMEOUT_S) as reply:
            return 0 if reply.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
