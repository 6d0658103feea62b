"""Where `tracecar init` touches the node: choosing legacy or nft iptables and applying plans.

Detection follows what mesh init containers do: a node whose legacy tables already hold rules is a
legacy node (kube-proxy and the CNI wrote them there, and rules in the other backend would be
ignored or fight them); otherwise nft is used where its tools exist, and legacy is the last resort.
"""

from __future__ import annotations

import enum
import shutil
import subprocess
from collections.abc import Sequence

from proxy.interception import legacy
from proxy.interception.errors import InterceptionError, explain
from proxy.interception.plan import (
    Op,
    cleanup_plan,
    count_rules,
    install_plan,
    parse_save,
    render_restore,
)
from proxy.interception.rules import Family, RuleSet


class Backend(enum.Enum):
    LEGACY = "legacy"
    NFT = "nft"


_PREFIX = {Family.IPV4: "iptables", Family.IPV6: "ip6tables"}


def tool(family: Family, variant: str) -> str:
    """`tool(IPV6, "nft-restore")` -> `"ip6tables-nft-restore"`."""
    return f"{_PREFIX[family]}-{variant}"


def choose_backend(legacy_rules: int, nft_available: bool, legacy_available: bool) -> Backend:
    if legacy_rules > 0:
        return Backend.LEGACY
    if nft_available:
        return Backend.NFT
    if legacy_available:
        return Backend.LEGACY
    raise InterceptionError(
        "no usable iptables: neither iptables-nft-restore nor python-iptables is available; "
        "install the iptables package"
    )


def detect_backend(families: Sequence[Family]) -> Backend:
    legacy_rules = sum(
        count_rules(_run([tool(family, "legacy-save")]))
        for family in families
        if shutil.which(tool(family, "legacy-save"))
    )
    nft_available = all(
        shutil.which(tool(family, variant)) for family in families for variant in ("nft-save", "nft-restore")
    )
    return choose_backend(legacy_rules, nft_available, legacy.available())


def apply(rulesets: Sequence[RuleSet], choice: str, *, cleanup: bool) -> Backend:
    """Install (or, with `cleanup`, remove) the rule sets; returns the backend that was used."""
    families = [ruleset.family for ruleset in rulesets]
    backend = detect_backend(families) if choice == "auto" else Backend(choice)
    for ruleset in rulesets:
        ops = cleanup_plan(ruleset) if cleanup else install_plan(ruleset)
        try:
            _execute(backend, ruleset.family, ops)
        except InterceptionError as exc:
            if ruleset.family is Family.IPV6:
                raise InterceptionError(f"{exc} (no IPv6 in this pod? use --no-ipv6)") from None
            raise
    return backend


def _execute(backend: Backend, family: Family, ops: Sequence[Op]) -> None:
    if backend is Backend.LEGACY:
        legacy.execute(family, ops)
        return
    state = parse_save(_run([tool(family, "nft-save"), "-t", "nat"]))
    _run([tool(family, "nft-restore"), "--noflush"], stdin=render_restore(ops, state))


def _run(argv: list[str], stdin: str | None = None) -> str:
    if shutil.which(argv[0]) is None:
        raise InterceptionError(f"{argv[0]} not found: install the iptables package (1.8 or later)")
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise InterceptionError(explain(argv[0], proc.stderr))
    return proc.stdout
