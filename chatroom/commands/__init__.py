"""Bots' commands: who holds them (holders.py), and invoking and answering them (service.py)."""
