"""The soak harness, briefly: a real proxy under mixed traffic (keep-alive, a connection per request,
malformed requests, clients leaving mid-request) keeps its descriptors and, roughly, its memory. The
real soak is `python -m loadtests.soak` (10 minutes by default)."""

from __future__ import annotations

import pytest

from loadtests import soak


def test_short_soak_is_flat(capsys: pytest.CaptureFixture[str]) -> None:
    assert soak.main(["--duration", "15", "--warmup", "5", "--sample", "4", "--clients", "4"]) == 0
    out = capsys.readouterr().out
    assert "0 failed" in out and "refused as intended" in out, out
