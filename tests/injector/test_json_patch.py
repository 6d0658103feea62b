"""The RFC 6902 patch builder: applying its output with the jsonpatch library reproduces the target."""

from __future__ import annotations

import json
from typing import Any

import jsonpatch
from hypothesis import given
from hypothesis import strategies as st

from injector.patch import json_patch

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)


def test_inserted_containers_are_adds_and_keys_are_escaped() -> None:
    before = {"metadata": {"annotations": {"a/b": "1"}}, "spec": {"containers": [{"name": "app"}]}}
    after = {
        "metadata": {"annotations": {"a/b": "1", "tracecar.io/injected": "x~y"}},
        "spec": {"containers": [{"name": "proxy"}, {"name": "app"}], "volumes": [{"name": "tmp"}]},
    }
    assert json_patch(before, after) == [
        {"op": "add", "path": "/metadata/annotations/tracecar.io~1injected", "value": "x~y"},
        {"op": "add", "path": "/spec/containers/0", "value": {"name": "proxy"}},
        {"op": "add", "path": "/spec/volumes", "value": [{"name": "tmp"}]},
    ]


def test_type_change_is_a_replace() -> None:
    assert json_patch({"a": 1}, {"a": True}) == [{"op": "replace", "path": "/a", "value": True}]
    assert json_patch([1, 2], [True, 2]) == [{"op": "replace", "path": "/0", "value": True}]


@given(json_values, json_values)
def test_patch_applies_to_reproduce_target(before: Any, after: Any) -> None:
    patch = json_patch(before, after)
    assert json.dumps(jsonpatch.apply_patch(before, patch), sort_keys=True) == json.dumps(
        after, sort_keys=True
    )
    assert json_patch(after, after) == []
