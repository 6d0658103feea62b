"""The tracecar data path: interception, the transparent proxy, and its command line."""

from __future__ import annotations
