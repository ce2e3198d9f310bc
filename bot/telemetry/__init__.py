"""What the bot tells its operator: logs (with secrets masked) and Prometheus metrics."""
