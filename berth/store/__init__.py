"""Durable, versioned state (global revision, compare-and-swap, watch); filled by a later issue."""
