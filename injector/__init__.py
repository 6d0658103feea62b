"""Sidecar injection: the admission webhook and `tracecar inject`."""

from __future__ import annotations
