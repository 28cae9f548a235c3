"""Webhooks (protocol 1.2): incoming ones post messages into a room over
HTTP, outgoing ones POST every new message of a room to a URL, signed, from
a queue in the database (service.py, deliveries.py)."""
