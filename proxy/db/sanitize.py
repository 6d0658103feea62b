"""Query text without its literals: what `db.query.text` may carry (OpenTelemetry database conventions).

Values in a query can be personal data or secrets; the structure is what a trace needs. String
literals (standard, E'' escape, dollar-quoted) and numbers become `?`; identifiers, keywords,
comments and bind placeholders ($1) stay. Pure and linear in the query's length.
"""

from __future__ import annotations

import re

MAX_QUERY_TEXT = 2048  # characters kept of a sanitized query; longer ones end in "..."

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


def sanitize_sql(query: str) -> str:
    def replace(match: re.Match[str]) -> str:
        return match.group("keep") or "?"

    return truncate(_SQL_LITERAL.sub(replace, query).strip())


def truncate(text: str) -> str:
    return text if len(text) <= MAX_QUERY_TEXT else text[: MAX_QUERY_TEXT - 3] + "..."


def sql_operation(query: str) -> str:
    """The statement's first keyword (SELECT, INSERT, BEGIN...), "" if it has none."""
    match = re.match(r"(?:\s|--[^\n]*\n?|/\*.*?\*/|\()*([A-Za-z]+)", query, re.DOTALL)
    return match.group(1).upper() if match else ""
