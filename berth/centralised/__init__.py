"""The centralised (OpenStack-style) control plane.

A layer marker for the import rules until its issue fills it.
"""
