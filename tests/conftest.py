"""Shared test setup: tests never touch the network and always use the bundled snapshot."""

from __future__ import annotations

import os

os.environ.setdefault("MARKET_DATA", "snapshot")
os.environ.setdefault("MPLBACKEND", "Agg")
