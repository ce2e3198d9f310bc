"""The bot's HTTP side: /healthz, /metrics and the read-only status page (bot/server/web/server.py)."""
