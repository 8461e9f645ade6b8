"""docs/hooks.md and docs/configuration.md cannot drift from the code."""

from pathlib import Path

import dask.config
from dask_operator import config, hookdoc

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_hook_reference_is_generated_from_hookspecs():
    assert (DOCS / "hooks.md").read_text() == hookdoc.render(), (
        "docs/hooks.md is stale: run `dask-operator hooks > docs/hooks.md`"
    )


def leaves(tree, prefix=""):
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def test_every_configuration_key_is_documented():
    import dask_operator.handlers  # noqa: F401  (imports every module that registers defaults)

    text = (DOCS / "configuration.md").read_text()
    keys = set(leaves(dask.config.get(config.NAMESPACE)))
    assert "worker-allocation.batch-size" in keys
    undocumented = sorted(k for k in keys if f"`{k}`" not in text)
    assert not undocumented, f"add these keys to docs/configuration.md: {undocumented}"
