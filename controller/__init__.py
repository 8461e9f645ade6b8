"""The Dask Kubernetes operator: a small kopf controller whose behaviour lives in pluggy plugins."""

__version__ = "2026.11.0"
