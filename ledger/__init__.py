"""The Buddo domain: aggregates, their events and the rules they enforce (pure, no I/O)."""
