"""The one exception interception raises: the message is what `tracecar init` prints."""

from __future__ import annotations

_PERMISSION_HINTS = ("permission denied", "operation not permitted", "you must be root")


class InterceptionError(RuntimeError):
    """The nat rules could not be read or changed; the message says why and what to do."""


def explain(what: str, detail: str) -> str:
    """One line for a failed iptables call, turning permission failures into advice."""
    detail = " ".join(detail.split()) or "no error output"
    if any(hint in detail.lower() for hint in _PERMISSION_HINTS):
        return (
            f"{what}: permission denied; tracecar init needs root (CAP_NET_ADMIN) "
            f"in the pod's network namespace ({detail})"
        )
    return f"{what}: {detail}"
