"""TLS for Dask comms with cert-manager: a dask-operator plugin (see README.md)."""
