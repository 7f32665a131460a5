"""How workloads actually run: process, fake and container runtimes.

A layer marker for the import rules until the control-plane issues fill it.
"""
