"""The benchmark scripts keep working (their figures are read by people, not asserted here)."""

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"


def run(script: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_render_prints_a_figure_per_cluster_size():
    out = run("render.py", "--iterations", "2")
    rows = [line.split() for line in out.splitlines() if line.startswith("built-ins ")]
    assert [row[1] for row in rows[:3]] == ["1", "10", "100"]
    assert all(float(row[2]) > 0 for row in rows[:3])


def test_operator_latency_documents_its_options():
    out = run("operator_latency.py", "--help")
    for option in ("--repeat", "--workers", "--scale-to"):
        assert option in out


def test_api_requests_documents_its_options():
    out = run("api_requests.py", "--help")
    for option in ("--idle", "--window", "--skip-lifecycle", "--idle-schedulers", "--json"):
        assert option in out
