"""The declarative (Kubernetes-style) control plane; filled by a later issue."""
