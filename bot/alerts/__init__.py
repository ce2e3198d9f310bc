"""Alerts: rule state machines (rules.py), replay over history (replay.py)."""
