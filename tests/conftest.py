"""Suite-wide policy: tests marked `netns` need root and network namespaces.

Locally they skip with the reason when those are missing; on CI (CI=true) a missing capability is a
failure, because a skip there would hide a gap.
"""

from __future__ import annotations

import os
import shutil

import pytest


def _netns_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    if shutil.which("ip") is None:
        return "needs iproute2 (ip)"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("netns") is None:
        return
    reason = _netns_unavailable()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"netns test cannot run on CI: {reason}")
    pytest.skip(reason)
