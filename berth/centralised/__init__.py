"""The centralised (OpenStack-style) control plane; filled by a later issue."""
