"""A minimal dask-operator plugin (see README.md)."""
