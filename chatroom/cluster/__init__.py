"""What the servers of one chat tell each other: typed events (events.py),
and one router that hands each to the rooms and users it concerns
(router.py). The broker (chatroom.broker) only carries them."""
