"""Fuzz the webhook's admission input: any body is either refused as a BadReview (HTTP 400) or
answered with an AdmissionReview carrying the request's uid; nothing else escapes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from injector.admission import BadReview, ReviewOptions, parse, review
from tests.fuzz.budget import EXAMPLES, fuzz

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=30,
)
metadata = st.fixed_dictionaries({"annotations": json_values, "labels": json_values})
spec = st.fixed_dictionaries({"containers": json_values, "initContainers": json_values})
pods = st.fixed_dictionaries(
    {"apiVersion": st.just("v1"), "kind": st.sampled_from(["Pod", "Service", 3]),
     "metadata": st.one_of(json_values, metadata), "spec": st.one_of(json_values, spec)},
)  # fmt: skip
requests = st.fixed_dictionaries(
    {"uid": st.one_of(st.just("u-1"), json_values),
     "kind": st.one_of(st.just({"group": "", "version": "v1", "kind": "Pod"}), json_values),
     "resource": st.one_of(st.just({"group": "", "version": "v1", "resource": "pods"}), json_values),
     "operation": st.sampled_from(["CREATE", "UPDATE", "DELETE", "CONNECT", 7]),
     "namespace": st.one_of(st.just("shop"), st.just("kube-system"), json_values),
     "object": st.one_of(pods, json_values)},
)  # fmt: skip
reviews = st.fixed_dictionaries(
    {"apiVersion": st.sampled_from(["admission.k8s.io/v1", "admission.k8s.io/v1beta1"]),
     "kind": st.sampled_from(["AdmissionReview", "Pod"]), "request": st.one_of(requests, json_values)},
)  # fmt: skip
bodies = st.one_of(reviews.map(lambda r: json.dumps(r).encode()), st.binary(max_size=200))


@settings(fuzz, max_examples=max(50, EXAMPLES // 4))  # a review costs ~20 times a header parse
@given(bodies)
def test_any_body_is_refused_or_answered(body: bytes) -> None:
    try:
        request: dict[str, Any] = parse(body)
    except BadReview:
        return
    reviewed = review(request, ReviewOptions())
    assert reviewed.review["response"]["uid"] == request["uid"]
    json.dumps(reviewed.review)  # the answer always serializes
