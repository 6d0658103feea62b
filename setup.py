"""Build hook: compile the hot-path modules with mypyc (a build-time tool that ships with mypy).

The same sources run unchanged as plain Python: set TRACECAR_PURE=1, or build where no C compiler
is available, and the package installs without the compiled modules.
"""

from __future__ import annotations

import os
import sys

from setuptools import setup

HOT_PATH = ["propagation", "proxy/http1"]


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
