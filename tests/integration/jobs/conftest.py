"""Fixtures for the DaskJob integration tests: the controller suite's operator, with fast
settings and a metrics endpoint on a free loopback port (shared by tests/integration/jobs,
autoscaler and metrics through tests/integration/jobs/operator_fixtures.py)."""

from operator_fixtures import (  # noqa: F401  (pytest collects fixtures and hooks by name)
    crds,
    examples,
    kube,
    operator,
    pytest_runtest_makereport,
    scrape,
    wait,
)
