"""Which API server failures are transient (retried quietly) and which are bugs (a traceback)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from dask_operator.kube import transient_failure
from kubernetes_asyncio.client.exceptions import ApiException


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_overload_and_gateway_answers_are_transient(status: int) -> None:
    why = transient_failure(ApiException(status=status, reason="Gateway Timeout"))
    assert why is not None and str(status) in why


@pytest.mark.parametrize("exc", [asyncio.TimeoutError(), ConnectionRefusedError("refused"), aiohttp.ServerDisconnectedError()])
def test_an_unreachable_api_server_is_transient(exc: BaseException) -> None:
    assert "could not be reached" in (transient_failure(exc) or "")


@pytest.mark.parametrize("exc", [ApiException(status=403, reason="Forbidden"), ApiException(status=422), KeyError("spec"), ValueError("x")])
def test_refusals_and_bugs_are_not(exc: BaseException) -> None:
    assert transient_failure(exc) is None
