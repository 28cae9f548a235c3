"""Several servers acting as one chat: what they tell each other, through Redis."""

from chatroom.broker.redis import BrokerListener, RedisBroker, redacted

__all__ = ["BrokerListener", "RedisBroker", "redacted"]
