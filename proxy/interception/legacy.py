"""The legacy backend: plans carried out with python-iptables (libiptc), one family per process.

libxtables registers an extension only for the address family active when its shared object is
first loaded, and never again in that process: after REDIRECT was used for IPv4, python-iptables
reports "can't find target REDIRECT" for IPv6. So each family is applied in a fresh child process,
and the parent never imports `iptc` itself.
"""

from __future__ import annotations

import fcntl
import importlib.util
import multiprocessing
import os
import sysconfig
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from proxy.interception.errors import InterceptionError, explain
from proxy.interception.plan import (
    AppendRule,
    DeleteChain,
    EnsureChain,
    EnsureJump,
    FlushChain,
    Op,
    RemoveJumps,
)
from proxy.interception.rules import Family, Rule

_RULE_FIELDS = {
    "-s": "src",
    "-d": "dst",
    "-i": "in_interface",
    "-o": "out_interface",
    "-p": "protocol",
}
# The lock iptables-legacy takes around every change; libiptc itself takes none.
_LOCK_FILE = "/run/xtables.lock"
_LOCK_WAIT_SECONDS = 10.0


def available() -> bool:
    return importlib.util.find_spec("iptc") is not None


def execute(family: Family, ops: Sequence[Op]) -> None:
    """Carry out `ops` on `family`'s nat table in one commit, in a child process."""
    # Forking is cheap, and the child starts with a clean libxtables because this process
    # never loads it.
    context = multiprocessing.get_context("fork")
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            pool.submit(_execute_here, family, tuple(ops)).result()
    except BrokenProcessPool as exc:
        raise InterceptionError(f"python-iptables crashed applying {family.label} rules") from exc


def _execute_here(family: Family, ops: tuple[Op, ...]) -> None:
    iptc = _import_iptc()
    try:
        with _xtables_lock():
            table = _open_nat(iptc, family)
            for op in ops:
                _perform(iptc, table, family, op)
            table.commit()
    except iptc.XTablesError as exc:
        raise InterceptionError(
            f"python-iptables ({family.label}): {exc} (are the xtables extensions in "
            f"{os.environ.get('XTABLES_LIBDIR')}? set XTABLES_LIBDIR, or use --backend nft)"
        ) from None
    except iptc.IPTCError as exc:
        raise InterceptionError(explain(f"python-iptables ({family.label})", str(exc))) from None


def _import_iptc() -> Any:
    libdir = _xtables_libdir()
    if libdir is not None:
        # Without it python-iptables runs `ldconfig -v` at import and guesses.
        os.environ.setdefault("XTABLES_LIBDIR", str(libdir))
    try:
        import iptc  # noqa: PLC0415 (see the module docstring)
    except Exception as exc:
        raise InterceptionError(
            f"python-iptables cannot load libiptc/libxtables ({exc}); install the iptables "
            "package, set XTABLES_LIBDIR, or use --backend nft"
        ) from None
    return iptc


def _xtables_libdir() -> Path | None:
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    candidates = [
        *(Path(root, multiarch, "xtables") for root in ("/usr/lib", "/lib") if multiarch),
        *(Path(root, "xtables") for root in ("/usr/lib64", "/usr/lib", "/lib", "/usr/local/lib")),
    ]
    return next((path for path in candidates if (path / "libxt_standard.so").exists()), None)


@contextmanager
def _xtables_lock() -> Iterator[None]:
    path = os.environ.get("XTABLES_LOCKFILE", _LOCK_FILE)
    with open(path, "a") as lock:
        deadline = time.monotonic() + _LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise InterceptionError(f"another iptables command holds {path}") from None
                time.sleep(0.05)
        yield


def _open_nat(iptc: Any, family: Family) -> Any:
    if family is Family.IPV4:
        table = iptc.Table(iptc.Table.NAT, autocommit=False)
    else:
        table = iptc.Table6(iptc.Table6.NAT, autocommit=False)
    table.refresh()
    return table


def _perform(iptc: Any, table: Any, family: Family, op: Op) -> None:
    if isinstance(op, EnsureChain):
        if table.is_chain(op.chain):
            table.flush_entries(op.chain)
        else:
            table.create_chain(op.chain)
    elif isinstance(op, AppendRule):
        iptc.Chain(table, op.rule.chain).append_rule(_to_iptc(iptc, family, op.rule))
    elif isinstance(op, EnsureJump):
        chain = iptc.Chain(table, op.rule.chain)
        if not _jumps(chain, op.rule.target or ""):
            chain.append_rule(_to_iptc(iptc, family, op.rule))
    elif not table.is_chain(op.chain):
        return
    elif isinstance(op, RemoveJumps):
        chain = iptc.Chain(table, op.chain)
        for rule in _jumps(chain, op.target):
            chain.delete_rule(rule)
    elif isinstance(op, FlushChain):
        table.flush_entries(op.chain)
    elif isinstance(op, DeleteChain):
        table.delete_chain(op.chain)


def _jumps(chain: Any, target: str) -> list[Any]:
    return [rule for rule in chain.rules if rule.target is not None and rule.target.name == target]


def _to_iptc(iptc: Any, family: Family, rule: Rule) -> Any:
    """Build a python-iptables rule from the argv form; every option takes exactly one value."""
    built = iptc.Rule() if family is Family.IPV4 else iptc.Rule6()
    extension: Any = None
    negate = ""
    args = iter(rule.args)
    for flag in args:
        if flag == "!":
            negate = "!"
            continue
        value = negate + next(args)
        negate = ""
        if flag in _RULE_FIELDS:
            setattr(built, _RULE_FIELDS[flag], value)
        elif flag == "-m":
            extension = built.create_match(value)
        elif flag == "-j":
            extension = built.create_target(value)
        elif flag.startswith("--") and extension is not None:
            extension.set_parameter(flag[2:], value)
        else:
            raise InterceptionError(f"python-iptables cannot express {flag!r} in {rule}")
    return built
