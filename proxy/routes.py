"""Low-cardinality routes for span names: `GET /users/{id}`, never `GET /users/8412`.

Configured templates win (`/users/{user}/orders/{order}`); otherwise path segments that look like
identifiers (numbers, UUIDs, long hex) become `{id}`. Results are cached per path, bounded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_ID_SEGMENT = re.compile(
    rb"[0-9]+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{16,}"
)
_TEMPLATE_PART = re.compile(r"\{[^/{}]+\}")
MAX_CACHED = 4096


class Routes:
    def __init__(self, templates: Sequence[str] = ()) -> None:
        self.templates = [(re.compile(_template_regex(t)), t) for t in templates]
        self._cache: dict[bytes, str] = {}

    def route(self, path: bytes) -> str:
        cached = self._cache.get(path)
        if cached is not None:
            return cached
        route = self._route(path)
        if len(self._cache) < MAX_CACHED:
            self._cache[path] = route
        return route

    def _route(self, path: bytes) -> str:
        text = path.decode("latin-1")
        for pattern, template in self.templates:
            if pattern.fullmatch(text):
                return template
        segments = [b"{id}" if _ID_SEGMENT.fullmatch(s) else s for s in path.split(b"/")]
        return b"/".join(segments).decode("latin-1") or "/"


def _template_regex(template: str) -> str:
    """`/users/{user}` matches `/users/<one segment>`; raises ValueError for a template that could
    never match a path (none starts without a slash) or holds a brace outside a `{name}`."""
    parts = _TEMPLATE_PART.split(template)
    if not template.startswith("/") or any("{" in part or "}" in part for part in parts):
        raise ValueError(
            f"--route {template!r}: a template is a path from its first slash, "
            "each parameter a {name} within one segment, e.g. /users/{user}/orders/{order}"
        )
    return "[^/]+".join(re.escape(part) for part in parts)
