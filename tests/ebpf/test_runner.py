"""Why the fallback cannot run is decided before anything starts, from facts the process has."""

from __future__ import annotations

from proxy.ebpf import metrics as states
from proxy.ebpf.runner import unavailable

ROOT_STATUS = "Name:\tpython3\nCapEff:\t000001ffffffffff\n"
NO_CAPS = "Name:\tpython3\nCapEff:\t0000000000000000\n"


def test_root_with_its_capabilities_and_bpftrace_can_run() -> None:
    assert unavailable(0, ROOT_STATUS, "/usr/bin/bpftrace") is None


def test_each_missing_piece_has_its_reason() -> None:
    missing = unavailable(0, ROOT_STATUS, None)
    assert missing is not None and missing[0] == states.NO_BPFTRACE and "bpftrace" in missing[1]
    for euid, status in ((1337, ROOT_STATUS), (0, NO_CAPS)):
        problem = unavailable(euid, status, "/usr/bin/bpftrace")
        assert problem is not None and problem[0] == states.NOT_PRIVILEGED and "root" in problem[1]
