"""Alerts: rule state machines (rules.py), replay over history (replay.py), the engine that evaluates rule
instances once per session (engine.py), what chats receive (content.py, holding.py), and the service the
bot wires together (service.py). Delivery lives in bot/delivery.py, scheduling in bot/scheduler.py."""
