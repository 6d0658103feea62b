"""Literals out of query text, structure kept; the operation name from the first keyword."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.db.sanitize import MAX_QUERY_TEXT, sanitize_sql, sql_operation


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("SELECT * FROM t WHERE a = 1 AND b = 'x''y'", "SELECT * FROM t WHERE a = ? AND b = ?"),
        ("select $1::int + 1.5e3", "select $1::int + ?"),
        ("INSERT INTO t2 (c1) VALUES (E'it\\'s')", "INSERT INTO t2 (c1) VALUES (?)"),
        ("SELECT $tag$ secret $tag$, $$ also $$", "SELECT ?, ?"),
        ('SELECT "col 1" FROM "Table9"', 'SELECT "col 1" FROM "Table9"'),
        ("SELECT x'1F', -- note 42\n 7", "SELECT ?, -- note 42\n ?"),
    ],
)
def test_literals_become_placeholders(query: str, expected: str) -> None:
    assert sanitize_sql(query) == expected


@pytest.mark.parametrize(
    ("query", "operation"),
    [(" /* c */ (SELECT 1)", "SELECT"), ("-- hi\ninsert into t values (1)", "INSERT"), ("", ""), ("42", "")],
)
def test_operation(query: str, operation: str) -> None:
    assert sql_operation(query) == operation


@given(st.text(max_size=300), st.from_regex(r"[A-Za-z0-9 ]{6,20}", fullmatch=True))
def test_a_quoted_value_never_survives(prefix: str, secret: str) -> None:
    text = sanitize_sql(f"SELECT 1 WHERE a = '{secret}'")
    assert secret not in text
    assert len(sanitize_sql(prefix * 20)) <= MAX_QUERY_TEXT
