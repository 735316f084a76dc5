"""Agencies' own systems: connections, cursors, sync runs, dead letters and deliveries."""
