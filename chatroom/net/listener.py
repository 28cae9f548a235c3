"""Listening sockets, and the accept loop on one this process owns."""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Awaitable, Callable

import trio

log = logging.getLogger("chatroom.listener")  # the name its log lines have always had

# Connections the kernel holds for us until accepted (capped at
# net.core.somaxconn): past it, a connecting client's SYN is dropped and it
# tries again only after 1, 3, 7... seconds, which a reconnect storm after a
# restart turns into minutes.
BACKLOG = 4096
# Accepted at each wake-up of the accept loop. One at a time, the loop would
# get one turn per pass of the scheduler while thousands of new connections
# run their handshakes: the backlog would overflow (see BACKLOG).
ACCEPT_BATCH = 256
# Out of descriptors or kernel memory: refuse by not accepting for a moment
# rather than crash; queued connections wait in the backlog.
_RESOURCE_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
RESOURCE_PAUSE = 0.1
# Errors Linux passes up from a connection that died in the backlog (the same
# list trio's SocketListener ignores): skip that connection, keep accepting.
_DEAD_CONNECTION_ERRNOS = {
    getattr(errno, name)
    for name in (
        "EPERM", "ECONNABORTED", "EPROTO", "ENETDOWN", "ENOPROTOOPT", "EHOSTDOWN",
        "ENONET", "EHOSTUNREACH", "EOPNOTSUPP", "ENETUNREACH",
    )
    if hasattr(errno, name)
}  # fmt: skip

SocketHandler = Callable[[socket.socket], Awaitable[None]]


def open_listener(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """Bind and listen; port 0 picks a free port (see getsockname()).

    With `reuse_port`, other processes of this user may listen on the same
    port too (SO_REUSEPORT), and the kernel spreads new connections among them.
    """
    sock = bind_port(host, port, reuse_port=reuse_port)
    try:
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def bind_port(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket bound to host:port but not listening: it gets no connections.

    With `reuse_port`, it holds the port for processes that listen on it with
    reuse_port as well, and keeps it from anyone else.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def http_url(host: str, port: int, *, tls: bool = False) -> str:
    """The address a browser takes for a server listening on host:port."""
    scheme = "https" if tls else "http"
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


async def accept_loop(
    listener: socket.socket, handler: SocketHandler, handler_nursery: trio.Nursery
) -> None:
    """Start `handler(sock)` in `handler_nursery` for each new connection, until cancelled."""
    exhausted = False  # logged once per episode, not once per pause
    while True:
        await trio.lowlevel.wait_readable(listener)
        for _ in range(ACCEPT_BATCH):
            try:
                sock, _address = listener.accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if exc.errno in _DEAD_CONNECTION_ERRNOS:
                    continue
                if exc.errno not in _RESOURCE_ERRNOS:
                    raise
                if not exhausted:
                    log.warning("not accepting new connections: %s", exc)
                    exhausted = True
                await trio.sleep(RESOURCE_PAUSE)
                break
            if exhausted:
                log.warning("accepting new connections again")
                exhausted = False
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # (reset already, on some systems): that connection only
                sock.close()
                continue
            handler_nursery.start_soon(handler, sock)
