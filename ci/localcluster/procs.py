"""Detached daemons with pid files that survive pid reuse (pid + kernel start time)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


def start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime); the command name in parentheses may contain spaces.
    return stat.rsplit(")", 1)[1].split()[19]


def spawn(name: str, argv: Sequence[str], run_dir: Path, log_dir: Path,
          env: dict[str, str] | None = None) -> int:
    """Starts argv in its own session, output to <log_dir>/<name>.log, pid in <run_dir>/<name>.pid."""
    run_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env=env, close_fds=True,
        )
    (run_dir / f"{name}.pid").write_text(f"{proc.pid} {start_time(proc.pid) or ''}\n")
    return proc.pid


def read_pid(run_dir: Path, name: str) -> int | None:
    """The pid of a running daemon, or None if it is not running (or the pid was reused)."""
    try:
        pid_s, _, started = (run_dir / f"{name}.pid").read_text().strip().partition(" ")
        pid = int(pid_s)
    except (OSError, ValueError):
        return None
    current = start_time(pid)
    if current is None or (started and current != started):
        return None
    if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
        return None
    return pid


def stop(run_dir: Path, name: str, timeout: float = 10.0) -> bool:
    """SIGTERM the daemon's process group, SIGKILL after timeout. True if something was stopped."""
    pid = read_pid(run_dir, name)
    (run_dir / f"{name}.pid").unlink(missing_ok=True)
    if pid is None:
        return False
    kill_group(pid, timeout)
    return True


def kill_group(pid: int, timeout: float = 10.0) -> None:
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if start_time(pid) is None or _is_zombie(pid):
                return
            time.sleep(0.05)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
