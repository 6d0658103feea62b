"""The one exception the propagation package raises: bad configuration, never bad input."""

from __future__ import annotations


class ConfigError(ValueError):
    """An `OTEL_*` setting tracecar cannot honour; the message names the variable and the value."""
