"""Cheap frame reprs: h2 formats every frame it receives for a trace-level log line, whether or not
anything logs it (`logger.trace("Received frame: %s", repr(frame))`), and hyperframe's repr of a
DATA, HEADERS or CONTINUATION frame serializes the body again and hex-encodes all of it. For a
64 KiB DATA frame that costs about 100 us, more than relaying the frame. Here those bodies are shown
by their length instead; importing this module makes the change, for the whole process (nothing
else in the proxy formats frames).
"""

from __future__ import annotations

from functools import partialmethod

from hyperframe.frame import Frame


def brief(frame: Frame) -> str:
    """The frame's type, stream and body length: enough to tell frames apart in a trace."""
    return f"{type(frame).__name__}(stream_id={frame.stream_id}, body_len={frame.body_len})"


# partialmethod: a compiled function is not a descriptor, and __repr__ is called as a method.
Frame.__repr__ = partialmethod(brief)  # type: ignore[assignment,method-assign]
