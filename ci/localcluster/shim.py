"""Becomes one container process (stdlib only; run with `python -I -S shim.py SPEC.json`).

Started by the kubelet under `ip netns exec <pod netns>`, which already gives it the pod's
network namespace and a private mount namespace with the pod's /etc/hosts. Here we add a UTS
namespace (hostname = pod name), bind-mount the pod's volumes, change to workingDir and exec
the container command with the environment we were started with.
"""

import ctypes
import json
import os
import socket
import sys

CLONE_NEWUTS = 0x04000000
MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384

libc = ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount_bind(src: str, dst: str, readonly: bool) -> None:
    _check(libc.mount(src.encode(), dst.encode(), None, MS_BIND | MS_REC, None), f"bind {src} -> {dst}")
    if readonly:
        _check(libc.mount(None, dst.encode(), None, MS_BIND | MS_REMOUNT | MS_RDONLY, None),
               f"remount {dst} read-only")


def main() -> None:
    with open(sys.argv[1]) as fh:
        spec = json.load(fh)
    os.unlink(sys.argv[1])
    try:
        _check(libc.unshare(CLONE_NEWUTS), "unshare(UTS)")
        socket.sethostname(spec["hostname"][:64])
        # Open every source first: an earlier mount (e.g. over /work) may hide a later source.
        mounts = sorted(spec.get("mounts", []), key=lambda m: m["target"].rstrip("/").count("/"))
        fds = [os.open(m["source"], os.O_PATH) for m in mounts]
        for m, fd in zip(mounts, fds, strict=True):
            mount_bind(f"/proc/self/fd/{fd}", m["target"], m.get("readOnly", False))
        for fd in fds:
            os.close(fd)
        os.chdir(spec.get("workingDir") or "/")  # a container without workingDir starts in /
    except OSError as err:
        sys.stderr.write(f"container setup failed: {err}\n")
        os._exit(128)
    argv = spec["argv"]
    try:
        os.execvpe(argv[0], argv, os.environ)
    except FileNotFoundError:
        sys.stderr.write(f'exec: "{argv[0]}": executable file not found in $PATH\n')
        os._exit(127)
    except OSError as err:
        sys.stderr.write(f'exec: "{argv[0]}": {err.strerror}\n')
        os._exit(126)


if __name__ == "__main__":
    main()
