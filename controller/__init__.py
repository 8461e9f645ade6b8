"""The Dask Kubernetes operator: a small kopf controller whose behaviour lives in pluggy plugins.

Plugin authors mark hook implementations with :data:`hookimpl`::

    from dask_operator import hookimpl

    @hookimpl
    def dask_child_labels(cluster, component):
        return {"team": "data"}
"""

from .hookspecs import hookimpl, hookspec

__version__ = "2026.11.0"

__all__ = ["__version__", "hookimpl", "hookspec"]
