"""A worker ends with its supervisor: the parent-death signal of Linux's prctl(2).

Orphaned, a `--workers` process would go on serving the shared ports with no one to restart, drain
or stop it: the supervisor killed by the OOM killer, or by SIGKILL where it is not the container's
PID 1 (under an init such as tini, or run by hand), left its workers running.
"""

from __future__ import annotations

import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1
_PR_GET_PDEATHSIG = 2
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent(parent: int, signum: int = signal.SIGTERM) -> None:
    """Have the kernel send `signum` when `parent` (this process's parent now) exits."""
    if _libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
    if os.getppid() != parent:  # it died before the request took hold: the signal will never come
        os.kill(os.getpid(), signum)


def parent_death_signal() -> int:
    """The signal `die_with_parent` asked for, 0 if none (a change of credentials clears it)."""
    value = ctypes.c_int(0)
    _libc.prctl(_PR_GET_PDEATHSIG, ctypes.byref(value), 0, 0, 0)
    return value.value
