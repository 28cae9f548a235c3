"""Rooms: one task per room owning its members, presence and fan-out.

The room's rules and state are sans-IO and import neither Trio nor the
store: core.py, with members.py, timeline.py, outbox.py, recent.py,
listing.py and the requests in requests.py. Around them: the task
(actor.py, with inbox.py, catchup.py, commits.py and storage.py) and the
registry that owns the tasks (registry.py). Import each from its module.
"""
