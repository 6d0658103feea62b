"""Query text without its literals: what `db.query.text` may carry (OpenTelemetry database conventions).

Values in a query can be personal data or secrets; the structure is what a trace needs. String
literals (standard, E'' escape, dollar-quoted) and numbers become `?`; identifiers, keywords,
comments and bind placeholders ($1) stay. Pure and linear in the query's length.
"""

from __future__ import annotations

import functools
import re

MAX_QUERY_TEXT = 2048  # characters kept of a sanitized query; longer ones end in "..."
SANITIZED_CACHE = 1024  # distinct queries whose sanitized text is kept (each at most MAX_QUERY_TEXT)
_FIRST_KEYWORD = re.compile(r"(?:\s|--[^\n]*\n?|/\*.*?\*/|\()*([A-Za-z]+)", re.DOTALL)

_SQL_LITERAL = re.compile(
    r"""
      (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z0-9_]*|)\$.*?\$(?P=tag)\$)
    | (?P<string>(?<![A-Za-z0-9_$])[EeBbXxNn]?'(?:[^'\\]|''|\\.)*'?)
    | (?P<keep>"(?:[^"]|"")*"            # a quoted identifier: kept
        | --[^\n]*                       # a line comment: kept
        | /\*.*?\*/                      # a block comment: kept
        | \$\d+                          # a bind parameter: kept
        | [A-Za-z_][A-Za-z0-9_$]*        # an identifier or keyword (digits inside it are no literal)
      )
    | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    """,
    re.VERBOSE | re.DOTALL,
)


@functools.lru_cache(maxsize=SANITIZED_CACHE)
def sanitize_sql(query: str) -> str:
    """Cached: applications send the same statements again and again (prepared or not)."""

    def replace(match: re.Match[str]) -> str:
        return match.group("keep") or "?"

    return truncate(_SQL_LITERAL.sub(replace, query).strip())


def truncate(text: str) -> str:
    return text if len(text) <= MAX_QUERY_TEXT else text[: MAX_QUERY_TEXT - 3] + "..."


def sql_operation(query: str) -> str:
    """The statement's first keyword (SELECT, INSERT, BEGIN...), "" if it has none."""
    match = _FIRST_KEYWORD.match(query)
    return match.group(1).upper() if match else ""
