"""Training's side of a workdir: its lock.

The checkpoint layout and the ``Checkpoints`` manager live in ``selfgait_jax.workdir`` (below
``train`` and ``evaluation``, which both read it); restoring into a sharded state uses
``selfgait_jax.sharding.with_sharding``.

One workdir, one writer: a training run holds ``WorkdirLock`` (an ``fcntl.flock`` on
``workdir/.lock``) while it runs, so a second run started on the same workdir stops with a message
naming the first instead of interleaving checkpoints. The OS releases the lock when its process
dies, so a SIGKILLed or crashed run never leaves it stuck.
"""

import datetime
import json
import os
import socket
import sys


class WorkdirInUseError(RuntimeError):
    """Another live process holds the workdir's lock."""


class WorkdirLock:
    """An exclusive, non-blocking ``fcntl.flock`` on ``workdir/.lock`` (``.lock.<i>`` for JAX
    process i > 0, so the processes of one multi-host job do not exclude each other).

    ``acquire()`` raises ``WorkdirInUseError`` naming the holder (pid, host, start time, command,
    as it wrote them into the file) when another open of the file holds the lock. The lock belongs
    to the open file, so the OS drops it when the holder exits or is killed; the file itself stays
    (removing it would race with a run that is just opening it). Use as a context manager.
    """

    def __init__(self, workdir: str, process_index: int = 0):
        suffix = f".{process_index}" if process_index else ""
        self.path = os.path.join(os.path.abspath(workdir), ".lock" + suffix)
        self._fd = None

    def acquire(self) -> "WorkdirLock":
        try:
            import fcntl  # pylint: disable=g-import-not-at-top
        except ImportError:  # not POSIX: no lock, say so once
            import logging  # pylint: disable=g-import-not-at-top

            logging.getLogger(__name__).warning("no fcntl here: workdir %s is not locked",
                                                os.path.dirname(self.path))
            return self
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_holder(fd)
            os.close(fd)
            raise WorkdirInUseError(
                f"workdir {os.path.dirname(self.path)} is in use by another run ({holder}); two "
                f"runs in one workdir would interleave their checkpoints. Wait for it to finish, "
                f"stop it, or pass another --workdir. (Lock: {self.path}, released by the OS when "
                f"that process ends.)") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(),
            "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": " ".join(sys.argv)}).encode())
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            import fcntl  # pylint: disable=g-import-not-at-top

            # Explicitly: a child forked meanwhile would otherwise keep the lock past our close.
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _read_holder(fd) -> str:
    try:
        info = json.loads(os.pread(fd, 65536, 0).decode())
        return (f"pid {info['pid']} on {info['host']}, started {info['started']}: "
                f"{info.get('command') or '?'}")
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not written its name yet"
