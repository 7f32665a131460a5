"""Durable, versioned state (global revision, compare-and-swap, watch).

A layer marker for the import rules until the declarative-plane issue fills it.
"""
