"""Audit: the hash-chained command log, roles, lineage and disclosure accounting."""
