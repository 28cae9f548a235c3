"""`python -m chatroom.healthcheck`: exit 0 if the local server answers
/healthz (for container health checks; reads CHATROOM_PORT, and
CHATROOM_TLS_CERT: with TLS, over HTTPS, the certificate unchecked since it
names the public host, not the loopback one asked here)."""

from __future__ import annotations

import os
import ssl
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
    scheme, context = "http", None
    if os.environ.get("CHATROOM_TLS_CERT"):
        scheme, context = "https", ssl._create_unverified_context()
    url = f"{scheme}://{host}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S, context=context) as reply:
            return 0 if reply.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
