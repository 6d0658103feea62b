"""The compiled propagation package behaves exactly like the same sources run as plain Python.

(tests/test_hot_path_compiled.py checks every hot-path module is compiled and current.)
"""

from __future__ import annotations

import importlib
import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "propagation"
SOURCES = sorted(PACKAGE.glob("*.py"))
MODULES = {("propagation" if p.stem == "__init__" else f"propagation.{p.stem}"): p for p in SOURCES}
PURE = os.environ.get("TRACECAR_PURE") == "1"
REBUILD = "run: bash .ci/setup --test"


# --- (b) compiled and pure Python give the same answers -----------------------------------------

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
CONFIGS = [
    ("tracecontext", "baggage"),
    ("tracecontext", "baggage", "b3", "b3multi"),
    ("b3multi", "b3", "tracecontext"),
    ("b3",),
    ("b3multi", "baggage"),
    (),
]
# (trace id, span id, flags, tracestate, debug): fixed, since next_context draws random ids.
CONTEXTS: list[tuple[str, str, int, list[tuple[str, str]], bool]] = [
    (TRACE, SPAN, 0x01, [], False),
    ("0" * 16 + TRACE[16:], SPAN, 0x00, [("congo", "t61rcWkgMzE"), ("1a@b@c", " x")], True),
    # entries of 128 and 129 characters either side of the trimming threshold (#tracestate-limits)
    (
        TRACE,
        SPAN,
        0xFF,
        [("a", "v" * 126), ("b", "v" * 127)] + [(f"k{i}", "v" * 100) for i in range(7)],
        False,
    ),
    (TRACE, "0000000000000001", 0x02, [(f"m{i}", str(i)) for i in range(32)], False),
]
SAMPLER_ENVS = [
    {},
    {"OTEL_TRACES_SAMPLER": "always_off"},
    {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.5"},
    {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"},
    {"OTEL_TRACES_SAMPLER": "PARENTBASED_ALWAYS_OFF"},
    {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"},
    {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"},
    {"OTEL_TRACES_SAMPLER": "jaeger_remote"},
]
PROPAGATOR_ENVS = ["", "none", "b3multi, tracecontext,B3,b3multi", "xray", "none,b3", " Baggage "]

Wire = list[tuple[str, str]]  # header lists as latin-1 text, for JSON


# Deterministic inputs: valid values of every format, near misses, and plain noise.


def _hex(rng: random.Random, digits: int) -> str:
    if rng.random() < 0.05:
        return "0" * digits
    return "".join(rng.choice("0123456789abcdef") for _ in range(digits))


def _mutate(rng: random.Random, value: str) -> str:
    for _ in range(rng.choice([0, 0, 1, 1, 2])):
        at = rng.randrange(len(value) + 1)
        edit = rng.choice(["sub", "flip", "cut", "add", "pad"])
        if edit == "sub" and value:
            value = value[: at - 1] + rng.choice("0aF-=, \t@\xff") + value[at:]
        elif edit == "flip":
            value = value[:at] + "".join(c.swapcase() if c.isascii() else c for c in value[at:])
        elif edit == "cut":
            value = value[:at]
        elif edit == "add":
            value = value[:at] + rng.choice(["-", "x", "00", "-abc", ","]) + value[at:]
        else:
            value = f" {value}\t"
    return value


def _traceparent(rng: random.Random) -> Wire:
    version = rng.choice(["00", "00", "00", "01", "cc", "ff"])
    value = f"{version}-{_hex(rng, 32)}-{_hex(rng, 16)}-{rng.randrange(256):02x}"
    if version != "00" and rng.random() < 0.3:
        value += "-future"
    headers = [("traceparent", _mutate(rng, value))]
    for _ in range(rng.choice([0, 1, 1, 2])):
        headers.append(("tracestate", _mutate(rng, _tracestate(rng))))
    return headers


def _tracestate(rng: random.Random) -> str:
    members = []
    for index in range(rng.choice([1, 2, 5, 33, 40])):
        key = rng.choice(["congo", "rojo", "1vendor", "t@v", "a@b@c", "Upper"]) + str(index)
        value = rng.choice(["t61rcWkgMzE", " lead", "x" * rng.choice([10, 130, 256, 257]), "a=b", ""])
        members.append(f"{key}={value}")
    return rng.choice([",", " , ", ",,"]).join(members)


def _baggage(rng: random.Random) -> Wire:
    members = []
    huge = rng.randrange(100) if rng.random() < 0.2 else -1  # a member past the 8192-byte limit
    for index in range(rng.choice([1, 3, 90])):
        value = "x" * 9000 if index == huge else rng.choice(["v", "%E4%B8%AD", "a b", "x" * 10, "x" * 100])
        members.append(f"k{index} = {value};prop=1" if rng.random() < 0.2 else f"k{index}={value}")
    return [("baggage", _mutate(rng, ",".join(members)))]


def _b3(rng: random.Random) -> Wire:
    trace_id = _hex(rng, rng.choice([16, 32]))
    value = rng.choice(["0", "1", "d"]) if rng.random() < 0.25 else f"{trace_id}-{_hex(rng, 16)}"
    if len(value) > 1 and rng.random() < 0.7:
        value += "-" + rng.choice(["0", "1", "d", "x"]) + rng.choice(["", f"-{_hex(rng, 16)}", "-junk"])
    return [("b3", _mutate(rng, value))]


def _b3multi(rng: random.Random) -> Wire:
    headers = [
        ("X-B3-TraceId", _hex(rng, rng.choice([16, 32]))),
        ("X-B3-SpanId", _hex(rng, 16)),
        ("X-B3-ParentSpanId", _hex(rng, 16)),
        ("X-B3-Sampled", rng.choice(["1", "0", "true", "False", "d", ""])),
        ("X-B3-Flags", rng.choice(["1", "0"])),
    ]
    kept = [(name, _mutate(rng, value)) for name, value in headers if rng.random() < 0.8]
    return kept + rng.sample(kept, k=min(len(kept), rng.choice([0, 0, 0, 1])))


def _one_trace_every_format(rng: random.Random) -> Wire:
    """The same trace in W3C and B3 headers, as a hop between the two worlds sends it."""
    trace_id, span_id = _hex(rng, 32), _hex(rng, 16)
    return [
        ("traceparent", f"00-{trace_id}-{span_id}-0{rng.choice('0123')}"),
        ("tracestate", f"congo=t61rcWkgMzE,rojo={span_id}"),
        ("b3", f"{trace_id}-{span_id}-{rng.choice('01d')}"),
        ("x-b3-traceid", trace_id),
        ("x-b3-spanid", span_id),
    ]


def _noise(rng: random.Random) -> Wire:
    names = ["host", "content-type", "trace-parent", "b3-x", "TraceParent", "BAGGAGE", "\xff\x00"]
    return [(rng.choice(names), "".join(chr(rng.randrange(256)) for _ in range(rng.randrange(20))))]


def generated_cases(count: int = 300, seed: int = 1234) -> list[Wire]:
    rng = random.Random(seed)
    makers: list[Callable[[random.Random], Wire]] = [
        _traceparent,
        _baggage,
        _b3,
        _b3multi,
        _one_trace_every_format,
        _noise,
    ]
    cases = []
    for _ in range(count):
        headers: Wire = []
        for make in rng.sample(makers, k=rng.randint(1, len(makers))):
            headers += make(rng)
        rng.shuffle(headers)
        spellings = [(name, name.upper(), name.title()) if name.isascii() else (name,) for name, _ in headers]
        cases.append(
            [(rng.choice(names), value) for names, (_, value) in zip(spellings, headers, strict=True)]
        )
    return cases


# The computation both sides run: everything deterministic the package offers, as JSON-able data.


def _text(value: bytes) -> str:
    return value.decode("latin-1")


def _headers(headers: list[tuple[bytes, bytes]]) -> list[list[str]]:
    return [[_text(name), _text(value)] for name, value in headers]


def _extracted(got: Any) -> dict[str, Any]:
    parent = got.parent
    context = None
    if parent is not None:
        state = parent.trace_state
        ids = [_text(parent.trace_id), _text(parent.span_id)]
        context = [*ids, parent.flags, state.to_header().decode(), list(state), parent.debug, parent.sampled]
    return {
        "parent": context,
        "decision": got.decision,
        "baggage": None if got.baggage is None else [_text(got.baggage.to_header()), list(got.baggage)],
        "debug": got.debug,
        "repr": repr(got),
    }


def _contexts() -> list[Any]:
    from propagation import SpanContext, TraceState  # noqa: PLC0415 - imported where the runner put it

    return [
        SpanContext(t.encode(), s.encode(), flags, TraceState.from_pairs(pairs), debug)
        for t, s, flags, pairs, debug in CONTEXTS
    ]


def _parsed(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    from propagation import b3, baggage, traceparent, tracestate  # noqa: PLC0415

    found: dict[bytes, list[bytes]] = {}
    for name, value in headers:
        found.setdefault(name.lower(), []).append(value)
    parent = traceparent.parse(found.get(b"traceparent", []))
    state = tracestate.parse(found.get(b"tracestate", []))
    bag = baggage.parse(found.get(b"baggage", []))
    return {
        "traceparent": None if parent is None else repr(parent),
        "tracestate": [state.to_header().decode(), list(state), len(state), repr(state)],
        "tracestate_get": [state.get("congo0"), state.get("1vendor1")],
        "baggage": [_text(bag.to_header()), list(bag), bag.get("k0"), len(bag)],
        "b3": _extracted(b3.parse_single(found.get(b"b3", []))),
        "b3multi": _extracted(b3.parse_multi(found)),
    }


def compute(cases: list[Wire]) -> dict[str, Any]:
    """Run every case through the package as imported here, compiled or not."""
    from propagation import Propagators  # noqa: PLC0415

    propagators = [Propagators(config) for config in CONFIGS]
    contexts = _contexts()
    results = []
    for case in cases:
        headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in case]
        result: dict[str, Any] = {"parsed": _parsed(headers)}
        for config, each in zip(CONFIGS, propagators, strict=True):
            got = each.extract(headers)
            injected = [_headers(each.inject(headers, context, got.baggage)) for context in contexts]
            result[",".join(config)] = {"extracted": _extracted(got), "injected": injected}
        results.append(result)
    return {"cases": results, "config": _configuration(), "modules": _module_files()}


def _configuration() -> dict[str, Any]:
    from propagation import ConfigError, Propagators, TraceState, new_span_id, new_trace_id, sampling  # noqa: PLC0415

    out: dict[str, Any] = {}
    # the ratio samplers' bounds (lower 64 bits below ratio * 2**64) and either side of them
    bounds = [round(ratio * 2**64) + delta for ratio in (0.5, 0.1) for delta in (-1, 0, 1)]
    trace_ids = [TRACE, "f" * 32, "0" * 31 + "1"] + [f"{'0' * 16}{bound:016x}" for bound in bounds]
    for env in SAMPLER_ENVS:
        try:
            sampler = sampling.from_env(env)
        except ConfigError as error:
            out[repr(env)] = f"ConfigError: {error}"
            continue
        decisions = [sampler.should_sample(t.encode(), d) for t in trace_ids for d in (None, True, False)]
        out[repr(env)] = [repr(sampler), decisions]
    for value in PROPAGATOR_ENVS:
        try:
            out[f"OTEL_PROPAGATORS={value}"] = repr(Propagators.from_env({"OTEL_PROPAGATORS": value}))
        except ConfigError as error:
            out[f"OTEL_PROPAGATORS={value}"] = f"ConfigError: {error}"
    state = TraceState.from_pairs([("a", "1"), ("b", "2")]).with_entry("b", "3").without("a")
    out["tracestate_edits"] = [state.to_header().decode(), repr(state)]
    try:
        TraceState.from_pairs([("Bad", "1")])
    except ValueError as error:
        out["tracestate_invalid_entry"] = str(error)
    ids = [new_trace_id(), new_span_id()]
    out["ids"] = [[len(i), i == i.lower(), int(i, 16) != 0] for i in ids]
    contexts = _contexts()
    out["contexts"] = [[repr(c), c == contexts[0], hash(c) == hash(contexts[0])] for c in contexts]
    return out


def _module_files() -> dict[str, str]:
    return {name: str(importlib.import_module(name).__file__) for name in MODULES}


_RUNNER = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from tests.propagation.test_compiled import compute
json.dump(compute(json.load(sys.stdin)), sys.stdout)
"""


def run_pure(cases: list[Wire], tmp_path: Path) -> dict[str, Any]:
    """`compute` in a fresh interpreter that imports a copy of the .py sources and nothing else."""
    copy = tmp_path / "propagation"
    copy.mkdir()
    for source in SOURCES:
        shutil.copy2(source, copy / source.name)
    done = subprocess.run(
        [sys.executable, "-c", _RUNNER, str(tmp_path), str(ROOT)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_compiled_and_pure_python_agree(tmp_path: Path) -> None:
    cases = generated_cases()
    pure = run_pure(cases, tmp_path)
    for name, loaded in pure["modules"].items():
        assert loaded.startswith(str(tmp_path)) and loaded.endswith(".py"), (
            f"the pure side loaded {name} from {loaded}"
        )
    compiled = json.loads(json.dumps(compute(cases)))  # the same lists-for-tuples as the pure side
    if not PURE:
        assert all(f.endswith(".so") for f in compiled["modules"].values()), compiled["modules"]
    assert compiled["config"] == pure["config"]
    for index, (ours, theirs) in enumerate(zip(compiled["cases"], pure["cases"], strict=True)):
        assert ours == theirs, f"compiled and pure Python differ on case {index}: {cases[index]}"


def test_generated_cases_cover_every_outcome() -> None:
    """The differential input is only as good as its variety: valid and invalid of every format."""
    result = compute(generated_cases())["cases"]
    for config in ("tracecontext,baggage", "b3", "b3multi,baggage"):
        parents = [case[config]["extracted"]["parent"] is not None for case in result]
        assert 20 <= sum(parents) <= len(parents) - 20, config
    assert any(
        case["tracecontext,baggage"]["extracted"]["parent"] and case["parsed"]["tracestate"][2]
        for case in result
    )
    assert any(len(case["parsed"]["baggage"][1]) == 64 for case in result)
    assert any(
        case["b3"]["extracted"]["decision"] is False and not case["b3"]["extracted"]["parent"]
        for case in result
    )
