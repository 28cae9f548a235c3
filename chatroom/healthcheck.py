"""`python -m chatroom.healthcheck`: exit 0 if the local server answers
/healthz (for container health checks; reads CHATROOM_PORT)."""

from __future__ import annotations

import os
import sys
import urllib.request

TIMEOUT_S = 3


def main() -> int:
    port = os.environ.get("CHATROOM_PORT", "8080")
    host = os.environ.get("CHATROOM_HOST", "127.0.0.1")
    if host in ("0.0.0.0", "::", ""):  # every interface: loopback among them
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=TIMEOUT_S) as reply:
            return 0 if reply.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
