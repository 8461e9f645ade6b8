"""User-facing Python API for Dask on Kubernetes. Never imports kopf."""

__version__ = "2026.11.0"
