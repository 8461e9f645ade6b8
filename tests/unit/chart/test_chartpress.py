"""chartpress sets the chart version and image tag, and --reset restores the committed files."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from chart_helpers import ROOT

# What chartpress reads: its config, the chart, and the image's paths (chartpress.yaml).
COPIED = ["chartpress.yaml", "chart", "Dockerfile", ".dockerignore", "pyproject.toml", "README.md",
          "controller", "dask_kubernetes"]


def chartpress() -> str:
    found = shutil.which("chartpress", path=str(Path(sys.executable).parent)) or shutil.which("chartpress")
    assert found, "chartpress comes with the test extras (pip install -e '.[test]')"
    return found


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
        cwd=repo, check=True, capture_output=True, text=True,
    ).stdout


def test_skip_build_sets_versions_and_reset_restores(tmp_path: Path) -> None:
    # A throwaway repository with the working tree's files, so this checkout is never touched.
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in COPIED:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, repo / name)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "chart")
    head = git(repo, "rev-parse", "--short=7", "HEAD").strip()

    subprocess.run([chartpress(), "--skip-build"], cwd=repo, check=True, capture_output=True)
    chart = yaml.safe_load((repo / "chart" / "Chart.yaml").read_text())
    values = yaml.safe_load((repo / "chart" / "values.yaml").read_text())
    assert chart["version"].endswith(f".h{head}"), chart["version"]
    assert values["image"]["name"] == "ghcr.io/dask/dask-kubernetes-operator"
    assert values["image"]["tag"].endswith(f".h{head}"), values["image"]["tag"]
    assert sorted(git(repo, "diff", "--name-only").split()) == ["chart/Chart.yaml", "chart/values.yaml"]

    subprocess.run([chartpress(), "--reset"], cwd=repo, check=True, capture_output=True)
    assert git(repo, "status", "--porcelain") == ""
