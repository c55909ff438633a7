"""Repeatable benchmarks of the ledger, each measured against a baseline run alongside it."""
