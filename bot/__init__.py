"""Decoupler: watches how crypto and equity markets move together."""
