# syntax=docker/dockerfile:1
# The operator image: `dask-operator` in a slim Python image, running as uid 1000, fit for a
# read-only root filesystem (the chart mounts an emptyDir at /tmp, the only place it writes).
# Built by chartpress (chartpress.yaml); no Docker is needed for the tests, which build the same
# wheel and install it into a fresh venv the same way (tests/unit/chart/test_image.py).
ARG PYTHON_VERSION=3.12

# 1. Build the wheel of this repository (dask_operator and dask_kubernetes).
FROM python:${PYTHON_VERSION}-slim-bookworm AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY controller/ controller/
COPY dask_kubernetes/ dask_kubernetes/
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# 2. Install it with its dependencies into a venv.
FROM python:${PYTHON_VERSION}-slim-bookworm AS venv
COPY --from=wheel /wheels /wheels
RUN python -m venv /opt/dask-operator \
    && /opt/dask-operator/bin/pip install --no-cache-dir --disable-pip-version-check /wheels/*.whl

# 3. The runtime image: the venv and a non-root user, nothing else.
FROM python:${PYTHON_VERSION}-slim-bookworm
LABEL org.opencontainers.image.source="https://github.com/dask/dask-kubernetes" \
      org.opencontainers.image.description="Dask Kubernetes operator" \
      org.opencontainers.image.licenses="BSD-3-Clause"
RUN groupadd --gid 1000 dask \
    && useradd --uid 1000 --gid 1000 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin dask
COPY --from=venv /opt/dask-operator /opt/dask-operator
# No .pyc writes at run time (the root filesystem is read-only; pip compiled them at build time);
# HOME and USER let kopf, dask and getpass work for any uid the cluster picks.
ENV PATH=/opt/dask-operator/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    USER=dask
USER 1000:1000
WORKDIR /tmp
ENTRYPOINT ["dask-operator"]
CMD ["run", "--all-namespaces"]
