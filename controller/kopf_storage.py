"""What kopf keeps per object, cut to what the operator uses: nothing.

kopf compares every event's object with the "last handled" one (its *diffbase*) to find the
changes that ``on.create``/``on.update`` handlers react to, and builds that essence from a deep
copy of the object on every event, whether such handlers exist or not. The operator has none:
its passes are level-triggered and read the cache, so the essence is empty and nothing is
stored on the objects. With thousands of pods changing, the copies were a large part of the
operator's time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import kopf


class NoDiffBase(kopf.DiffBaseStorage):
    """A diffbase storage for an operator with only watch-event and index handlers."""

    def build(self, *, body: kopf.Body, extra_fields: Iterable[kopf.FieldSpec] | None = None) -> kopf.BodyEssence:
        return cast(kopf.BodyEssence, {})

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None
