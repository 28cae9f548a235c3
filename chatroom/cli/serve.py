"""`python -m chatroom [serve]`: run the server, or a supervisor of --workers servers."""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import ssl
import sys
from collections.abc import Sequence

import trio

from chatroom.app import serve
from chatroom.auth import TokenSigner
from chatroom.cli.options import add_options, settings_from
from chatroom.cli.state import database_failure, database_url, signer
from chatroom.config import Settings
from chatroom.logs import configure_logging
from chatroom.net.listener import bind_port, http_url, open_listener
from chatroom.net.tls import TlsContext
from chatroom.store import NameClash, SchemaTooNew
from chatroom.supervisor import READY_LINE, RestartPolicy, Supervisor

log = logging.getLogger("chatroom")

STOP_MARGIN = 5.0  # seconds a worker may take past its shutdown budget before SIGKILL


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the chat server (the default)",
        description="Run the chat server. Every option also reads a CHATROOM_* "
        "environment variable; an option given on the command line wins.",
    )
    add_options(parser, "serve")


def misconfiguration(args: argparse.Namespace) -> str:
    """What is wrong with options that are each right alone; "" if nothing."""
    if (args.tls_cert is None) != (args.tls_key is None):
        return "chatroom: --tls-cert and --tls-key go together"
    if args.workers > 1 and args.broker_url is None:
        return (
            f"chatroom: --workers {args.workers} needs --broker: workers share messages "
            "through Redis. Run one (apt-get install redis-server, or docker run -p "
            "6379:6379 redis:7) and add --broker redis://127.0.0.1:6379/0"
        )
    return ""


def run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Serve as `args` say; `argv` (the command line, with its command) is
    what a supervisor starts its workers with."""
    settings = settings_from(args)
    configure_logging(settings.log_level, settings.log_format)
    if settings.workers > 1:
        return _supervise(settings, argv)
    if failure := database_failure(database_url(settings.database_url, settings.data_dir)):
        log.error("%s", failure)
        return 2
    token_signer = signer(settings.data_dir)
    tls = None
    if settings.tls_cert is not None and settings.tls_key is not None:
        try:
            tls = TlsContext(settings.tls_cert, settings.tls_key)
        except (OSError, ssl.SSLError) as exc:
            log.error(
                "cannot use the certificate %s and key %s: %s",
                settings.tls_cert,
                settings.tls_key,
                exc,
            )
            return 1
    try:
        listener = open_listener(settings.host, settings.port, reuse_port=settings.reuse_port)
    except OSError as exc:
        log.error("cannot listen on %s port %s: %s", settings.host, settings.port, exc)
        return 1
    try:
        trio.run(_serve_until_signalled, settings, token_signer, listener, tls)
    except* (SchemaTooNew, NameClash, ValueError, OSError) as group:
        for error in group.exceptions:
            log.error("cannot serve: %s", error)
        return_code = 1
    else:
        return_code = 0
    return return_code


def _supervise(settings: Settings, argv: Sequence[str]) -> int:
    """--workers N: make what the workers share, hold the port, run them."""
    signer(settings.data_dir)  # made here once, rather than raced for by N workers
    url = database_url(settings.database_url, settings.data_dir)
    if failure := database_failure(url):  # likewise the schema
        log.error("%s", failure)
        return 2
    try:
        # Bound, never listening: it gets no connections, but keeps the port
        # (and the one port 0 picked) for the workers, across their restarts.
        held = bind_port(settings.host, settings.port, reuse_port=True)
    except OSError as exc:
        log.error("cannot listen on %s port %s: %s", settings.host, settings.port, exc)
        return 1
    with held:
        port = held.getsockname()[1]
        command = [sys.executable, "-m", "chatroom", *argv]
        command += ["--port", str(port), "--workers", "1", "--reuse-port"]
        tls = settings.tls_cert is not None
        supervisor = Supervisor(
            command,
            settings.workers,
            # serve() may take the grace to close clients, and again to flush.
            RestartPolicy(stop_timeout=2 * settings.shutdown_grace + STOP_MARGIN),
            on_ready=lambda: log.info(
                "listening on %s (WebSocket at /ws)", http_url(settings.host, port, tls=tls)
            ),
        )
        return trio.run(supervisor.run)


async def _serve_until_signalled(
    settings: Settings,
    token_signer: TokenSigner,
    listener: socket.socket,
    tls: TlsContext | None,
) -> None:
    shutdown = trio.Event()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async with trio.open_nursery() as nursery:

            async def serve_then_stop(task_status: trio.TaskStatus[int]) -> None:
                await serve(
                    settings,
                    token_signer,
                    shutdown,
                    listener=listener,
                    tls=tls,
                    task_status=task_status,
                )
                nursery.cancel_scope.cancel()  # what waits for a signal or the supervisor

            await nursery.start(serve_then_stop)
            if settings.supervisor_fd is not None:
                nursery.start_soon(_answer_supervisor, settings.supervisor_fd, shutdown)

            async def wait_for_signal() -> None:
                async for signum in signals:
                    log.info("received %s", signal.Signals(signum).name)
                    if signum == signal.SIGHUP:
                        _reload_certificate(tls)
                        continue
                    shutdown.set()
                    return

            nursery.start_soon(wait_for_signal)


def _reload_certificate(tls: TlsContext | None) -> None:
    """SIGHUP: new connections get the certificate now in the files."""
    if tls is None:
        return
    try:
        tls.reload()
    except (OSError, ssl.SSLError) as exc:
        log.error("kept the certificate in use: reading %s failed: %s", tls.cert, exc)
    else:
        log.info("certificate reloaded from %s", tls.cert)


async def _answer_supervisor(fd: int, shutdown: trio.Event) -> None:
    """Tell the supervisor (--workers) this worker listens; when the supervisor
    is gone (even SIGKILLed), stop as on SIGTERM rather than serve on unwatched."""
    async with trio.lowlevel.FdStream(fd) as stream:
        try:
            await stream.send_all(READY_LINE)
            while await stream.receive_some():
                pass
        except trio.BrokenResourceError:
            pass
    log.warning("the supervisor is gone: shutting down")
    shutdown.set()
