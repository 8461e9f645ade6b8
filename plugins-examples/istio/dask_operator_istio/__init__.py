"""Dask clusters inside an Istio service mesh: a dask-operator plugin (see README.md)."""
