"""chatroom: a multi-room WebSocket chat server on Trio."""

__version__ = "0.6.0"
