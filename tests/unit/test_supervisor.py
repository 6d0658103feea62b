"""The supervisor's signal hand-off tolerates workers that are already gone."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from proxy.supervisor import signal_all


def test_a_worker_already_gone_is_skipped_and_the_others_still_signalled() -> None:
    """A worker reaped by os.wait stays in the supervisor's table until its loop pops it; a signal
    handled in between once raised ProcessLookupError and ended the supervisor with a traceback."""
    gone = int(Path("/proc/sys/kernel/pid_max").read_text())  # pids stay below it: no such process
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        signal_all([gone, live.pid], signal.SIGTERM)
        assert live.wait(timeout=10) == -signal.SIGTERM
    finally:
        live.kill()
        live.wait()
