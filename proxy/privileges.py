"""Dropping root: the proxy starts privileged (to be started by `tracecar sidecar` or a test as root)
and continues as the uid that iptables exempts from redirection."""

from __future__ import annotations

import encodings.idna  # noqa: F401 - see drop_to
import logging
import os

from proxy.interception.rules import MAX_ID
from proxy.parent_death import die_with_parent, parent_death_signal

log = logging.getLogger("tracecar.privileges")


def parse_run_as(value: str) -> tuple[int, int]:
    """`UID` or `UID:GID` (the group defaults to the uid, as mesh images create them)."""
    uid, _, gid = value.partition(":")
    if not _is_id(uid) or (gid and not _is_id(gid)):
        raise ValueError(f"--run-as wants UID or UID:GID (0 to {MAX_ID}), got {value!r}")
    return int(uid), int(gid or uid)


def _is_id(text: str) -> bool:
    return text.isascii() and text.isdigit() and int(text) <= MAX_ID


def drop_to(uid: int, gid: int) -> None:
    """Become uid:gid for good, in every thread (glibc applies set*id to all of a process's threads).

    Every socket opened afterwards, upstream and exporter connections alike, belongs to `uid`, so the
    `-m owner --uid-owner` rule of `tracecar init` keeps them from being redirected back to us.
    Modules Python imports lazily must be loaded before this, in case `uid` cannot read the
    interpreter's files: getaddrinfo's `encodings.idna` is the one the exporters need (imported above).
    """
    if os.geteuid() == uid:
        return
    # A change of credentials clears the parent-death signal (prctl(2)): a worker asks again.
    signum, parent = parent_death_signal(), os.getppid()
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if signum:
        die_with_parent(parent, signum)
    log.info("running as uid %d gid %d", uid, gid)
