"""Choosing the iptables backend: legacy rules win, then nft, then legacy."""

from __future__ import annotations

import pytest

from proxy.interception.backend import Backend, choose_backend, tool
from proxy.interception.errors import InterceptionError, explain
from proxy.interception.rules import Family


@pytest.mark.parametrize(
    ("legacy_rules", "nft", "legacy", "expected"),
    [
        (3, True, True, Backend.LEGACY),
        (1, False, True, Backend.LEGACY),
        (0, True, True, Backend.NFT),
        (0, True, False, Backend.NFT),
        (0, False, True, Backend.LEGACY),
    ],
)
def test_choose_backend(legacy_rules: int, nft: bool, legacy: bool, expected: Backend) -> None:
    assert choose_backend(legacy_rules, nft, legacy) is expected


def test_no_backend_at_all_is_an_error_with_advice() -> None:
    with pytest.raises(InterceptionError, match="install the iptables package"):
        choose_backend(0, nft_available=False, legacy_available=False)


def test_tool_names() -> None:
    assert tool(Family.IPV4, "nft-restore") == "iptables-nft-restore"
    assert tool(Family.IPV6, "legacy-save") == "ip6tables-legacy-save"


def test_permission_failures_become_advice() -> None:
    message = explain("iptables-nft-save", "Could not fetch rule set: Permission denied (you must be root)\n")
    assert message.startswith("iptables-nft-save: permission denied; tracecar init needs root")
    assert message.endswith("(Could not fetch rule set: Permission denied (you must be root))")


def test_other_failures_keep_the_tool_s_words() -> None:
    assert explain("ip6tables-nft-restore", "line 3 failed\n") == "ip6tables-nft-restore: line 3 failed"
    assert explain("x", "") == "x: no error output"
