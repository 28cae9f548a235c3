"""TLS on the one port (`--tls-cert`, `--tls-key`), record layer in memory.

The transport writes fan-out bytes to the kernel from plain function calls
(see transport.py), so TLS cannot be a stream wrapped around it: a
`TlsSession` is the SSL state machine (`ssl.SSLObject` over memory BIOs)
that the transport feeds what it reads and asks for what to send. The
certificate and key are read again on SIGHUP (`TlsContext.reload`): new
connections get the new ones, open connections keep theirs.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import attrs

HANDSHAKE_READ = 16384
# Plaintext encrypted at once: ciphertext waiting for the socket is at most
# about this much, whatever the transport queues as plaintext.
CHUNK = 65536


class TlsError(Exception):
    """The peer does not speak TLS to us (plain HTTP, say), or speaks it wrong."""


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """TLS 1.2 and newer, HTTP/1.1 by ALPN; raises OSError or ssl.SSLError."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["http/1.1"])
    return context


@attrs.define
class TlsContext:
    """The server's certificate, as files, and the context made of them."""

    cert: Path
    key: Path
    context: ssl.SSLContext = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.context = server_context(self.cert, self.key)

    def reload(self) -> None:
        """Read the files again (a renewed certificate); raises on a bad pair,
        keeping the one in use."""
        self.context = server_context(self.cert, self.key)

    def session(self) -> TlsSession:
        return TlsSession(self.context)


class TlsSession:
    """One connection's TLS state: ciphertext in, plaintext out, and back."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self.ciphertext = bytearray()  # to send, in order
        self.eof = False  # the peer's close_notify, or its socket's end

    def handshake(self, received: bytes) -> bool:
        """Feed what arrived; True once the handshake is done (then send
        `ciphertext`). Raises TlsError."""
        if received:
            self._incoming.write(received)
        try:
            self._ssl.do_handshake()
            done = True
        except ssl.SSLWantReadError:
            done = False
        except ssl.SSLError as exc:
            raise TlsError(exc.reason or str(exc)) from None
        self._take_outgoing()
        return done

    def encrypt(self, data: bytes | bytearray | memoryview) -> int:
        """Encrypt up to CHUNK bytes of `data` into `ciphertext`; how many."""
        taken = memoryview(data)[:CHUNK]
        self._ssl.write(taken)
        self._take_outgoing()
        return len(taken)

    def feed(self, received: bytes) -> None:
        """What the socket gave (b"": its end)."""
        if received:
            self._incoming.write(received)
        else:
            self._incoming.write_eof()

    def read(self, max_bytes: int) -> bytes | None:
        """Plaintext decrypted from what was fed: None until a whole record
        is in, b"" at the end. Raises TlsError."""
        if self.eof:
            return b""
        try:
            data = self._ssl.read(max_bytes)
        except ssl.SSLWantReadError:
            data = None
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):  # close_notify, or just the end
            self.eof, data = True, b""
        except ssl.SSLError as exc:
            raise TlsError(exc.reason or str(exc)) from None
        self._take_outgoing()  # (TLS 1.3 sends tickets and key updates)
        return data

    def close_notify(self) -> None:
        """Say goodbye in TLS (best effort: into `ciphertext`)."""
        try:
            self._ssl.unwrap()
        except ssl.SSLError:
            pass
        self._take_outgoing()

    def _take_outgoing(self) -> None:
        if self._outgoing.pending:
            self.ciphertext += self._outgoing.read()
