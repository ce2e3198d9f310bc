"""Alerts and their machinery: the kinds (kinds.py), the rule state machines (rules.py), replay over history
(replay.py, preview.py), the engine that evaluates rule instances once per session (engine.py), when it runs
(scheduler.py, market_sessions.py), quiet hours and digests (holding.py), the outbox worker (delivery.py)
with the webhook and console platforms (webhook.py, notifiers.py), and the service the app builds
(service.py). What a chat reads is worded in bot/render."""
