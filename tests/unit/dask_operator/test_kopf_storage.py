"""kopf's per-object diffbase, cut to nothing: the operator has no on.create/update handlers."""

from __future__ import annotations

import kopf
from dask_operator import kopf_storage


def test_the_essence_is_empty_and_nothing_is_stored_on_the_object() -> None:
    storage = kopf_storage.NoDiffBase()
    body = kopf.Body({"metadata": {"name": "w", "labels": {"a": "b"}}, "spec": {"containers": [{"name": "worker"}]}})
    patch = kopf.Patch()
    assert storage.build(body=body) == {}
    assert storage.fetch(body=body) is None
    storage.store(body=body, patch=patch, essence=storage.build(body=body))
    assert not patch, "no annotation or status field may be written to the object"
