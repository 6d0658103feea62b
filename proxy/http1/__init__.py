"""HTTP/1.x as the proxy needs it: sans-IO, bytes in and events out, strict where framing is at stake."""

from __future__ import annotations
