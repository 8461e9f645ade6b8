"""``kubectl dask``: a kubectl plugin for Dask clusters (installed as the ``kubectl-dask`` command)."""
