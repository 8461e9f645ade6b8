"""dask_cleanup runs when a real operator process is stopped with SIGTERM (as Kubernetes stops
the operator's pod), after dask_startup ran at start-up, and the operator still exits cleanly."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster

PROBE = textwrap.dedent(
    '''
    """Writes to the file named by $CLEANUP_PROBE_FILE when the operator starts and stops."""

    import asyncio
    import os

    from dask_operator import hookimpl


    def _write(line):
        with open(os.environ["CLEANUP_PROBE_FILE"], "a") as out:
            out.write(line + "\\n")


    @hookimpl
    def dask_startup(settings, logger):
        _write("started")


    @hookimpl
    async def dask_cleanup(logger):
        await asyncio.sleep(0.1)  # an async implementation is awaited before the process exits
        _write("cleaned up")
    '''
)


def test_sigterm_runs_every_plugins_cleanup(dask_crds, ns, dask_operator_runner, tmp_path: Path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "dask_operator_cleanup_probe.py").write_text(PROBE)
    probe_file = tmp_path / "probe.log"
    operator = dask_operator_runner(
        ns.name, plugins={"cleanup_probe": "dask_operator_cleanup_probe"}, python_path=[source],
        env={"CLEANUP_PROBE_FILE": str(probe_file)},
    )
    assert probe_file.read_text().splitlines() == ["started"], operator.log()[-4000:]
    assert operator.stop() == 0, operator.log()[-4000:]
    assert probe_file.read_text().splitlines() == ["started", "cleaned up"], operator.log()[-4000:]
    assert "Traceback" not in operator.log()
