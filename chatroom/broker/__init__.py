"""Several servers acting as one chat: what they tell each other, through Redis."""

from chatroom.broker.keys import redacted
from chatroom.broker.redis import BrokerListener, RedisBroker

__all__ = ["BrokerListener", "RedisBroker", "redacted"]
