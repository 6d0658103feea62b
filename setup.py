"""Build hook: compile the hot-path modules with mypyc (a build-time tool that ships with mypy).

The same sources run unchanged as plain Python: set TRACECAR_PURE=1, or build where no C compiler
is available, and the package installs without the compiled modules.
"""

from __future__ import annotations

import os
import sys

from setuptools import setup

# Packages and modules on the per-request path. The data path's own modules are here because
# compiling them took about 10 us of CPU off each proxied request (of about 60), measured with
# `wrk -c32` through one worker; the span encoder is not, since it gained only 10 %.
# `.ci/setup` and tests/test_compiled.py read this list.
HOT_PATH = [
    "propagation",
    "proxy/accept.py",
    "proxy/handoff.py",
    "proxy/http1",
    "proxy/exchange.py",
    "proxy/forwarder.py",
    "proxy/h2",
    "proxy/original_dst.py",
    "proxy/http_span.py",
    "proxy/pool.py",
    "proxy/routes.py",
    "proxy/rpc_span.py",
    "proxy/sniff.py",
    "proxy/spans/otlp.py",
    "proxy/spans/record.py",
    "proxy/worker.py",
]


def compiled_modules() -> list[object]:
    if os.environ.get("TRACECAR_PURE") == "1":
        return []
    try:
        from mypyc.build import mypycify  # noqa: PLC0415 - optional: absent means pure Python
    except ImportError:
        print("tracecar: mypyc not available, installing pure Python", file=sys.stderr)
        return []
    return list(mypycify(HOT_PATH, opt_level="3", group_name="tracecar_hotpath"))


setup(ext_modules=compiled_modules())
