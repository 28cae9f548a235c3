"""The network side of the server, below the chat itself.

The one-port HTTP front (`http`), one client socket as a Trio stream
(`transport`), the listening sockets and accept loop (`listener`), who may
hold a socket (`admission`), TLS on the port (`tls`), the client's address
behind trusted proxies (`proxy`), the web client's files (`static_files`)
and server WebSocket frames as bytes (`wsframe`).
"""
