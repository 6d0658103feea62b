"""`tracecar inject`: add the sidecar to the pod templates in Kubernetes YAML, like `linkerd inject`."""

from __future__ import annotations

import argparse
import itertools
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from injector import pod_annotations as ann
from injector.patch import InjectOptions
from injector.sidecar import DEFAULT_IMAGE
from injector.workloads import inject_object

_DESCRIPTION = """\
Read Kubernetes YAML (files, directories of .yaml/.yml/.json files, or stdin when no path or '-'
is given; several documents per file; List objects) and write it to stdout with the tracecar init
container and proxy added to every Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job and
CronJob template. Other documents, and templates already injected or opted out with
tracecar.io/inject: "false", pass through unchanged, so running it twice changes nothing. The
options below act like the pod's tracecar.io/* annotations and win over them."""

# Option name -> annotation; each option takes the annotation's value syntax.
_ANNOTATION_OPTIONS = {
    "exclude-inbound-ports": ann.EXCLUDE_INBOUND_PORTS,
    "exclude-outbound-ports": ann.EXCLUDE_OUTBOUND_PORTS,
    "exclude-outbound-cidrs": ann.EXCLUDE_OUTBOUND_CIDRS,
    "include-outbound-cidrs": ann.INCLUDE_OUTBOUND_CIDRS,
    "opaque-ports": ann.OPAQUE_PORTS,
    "service-name": ann.SERVICE_NAME,
    "sampler-ratio": ann.SAMPLER_RATIO,
    "otlp-endpoint": ann.OTLP_ENDPOINT,
    "proxy-cpu": ann.PROXY_CPU,
    "proxy-memory": ann.PROXY_MEMORY,
    "proxy-workers": ann.PROXY_WORKERS,
    "infer-context": ann.INFER_CONTEXT,
    **{annotation.removeprefix(ann.PREFIX): annotation for annotation in ann.TIMEOUT_ANNOTATIONS},
    "max-header-bytes": ann.MAX_HEADER_BYTES,
}
_DOCUMENT_START = re.compile(r"^---(?=\s|$)", re.MULTILINE)
_YAML_SUFFIXES = (".yaml", ".yml", ".json")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "inject", help="add the tracecar sidecar to Kubernetes manifests", description=_DESCRIPTION
    )
    add = parser.add_argument
    add("paths", nargs="*", metavar="PATH", help="files or directories ('-' or none: stdin)")
    add("--image", default=DEFAULT_IMAGE, help="image of both containers (default %(default)s)")
    add(
        "--native-sidecar",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="run the proxy as a native sidecar (restartable init container, Kubernetes 1.29+); "
        "the pod annotation tracecar.io/native-sidecar wins (default: off)",
    )
    for option, annotation in _ANNOTATION_OPTIONS.items():
        add(f"--{option}", dest=option.replace("-", "_"), metavar="VALUE", help=f"as {annotation}")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    overrides = {
        annotation: value
        for option, annotation in _ANNOTATION_OPTIONS.items()
        if (value := getattr(args, option.replace("-", "_"))) is not None
    }
    try:
        ann.parse(overrides)
        options = InjectOptions(image=args.image, native_sidecar=args.native_sidecar, overrides=overrides)
        documents = [
            out for source, text in _inputs(args.paths) for out in inject_text(text, source, options)
        ]
    except (OSError, yaml.YAMLError, ValueError) as exc:
        print(f"tracecar inject: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write("---\n".join(documents))
    return 0


def inject_text(text: str, source: str, options: InjectOptions) -> list[str]:
    """Inject every document of one YAML stream; documents left unchanged keep their exact text."""
    out = []
    for chunk in _chunks(text):
        docs = list(yaml.safe_load_all(chunk))
        if not docs or docs == [None]:
            if chunk.strip():
                out.append(_ensure_newline(chunk))
            continue
        changed = False
        rendered = []
        for doc in docs:
            new = _inject_document(doc, source, options)
            changed = changed or new != doc
            rendered.append(new)
        if changed:
            out.extend(yaml.dump(doc, Dumper=_Dumper, sort_keys=False) for doc in rendered)
        else:
            out.append(_ensure_newline(chunk))
    return out


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the hook scripts, a ConfigMap's files) as literal blocks, as people write them."""

    def represent_str(self, data: str) -> yaml.ScalarNode:
        style = "|" if "\n" in data else None
        return self.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _Dumper.represent_str)


def _inject_document(doc: Any, source: str, options: InjectOptions) -> Any:
    if not isinstance(doc, dict):
        return doc
    try:
        injected, _ = inject_object(doc, options)
    except ValueError as exc:
        name = (doc.get("metadata") or {}).get("name", "?")
        raise ValueError(f"{source}: {doc.get('kind')}/{name}: {exc}") from None
    return injected


def _chunks(text: str) -> list[str]:
    """Split a stream at `---` lines, keeping each document's text (a column-0 `---` is always a marker)."""
    starts = [match.start() for match in _DOCUMENT_START.finditer(text)]
    bounds = [0, *starts, len(text)]
    chunks = [text[a:b] for a, b in itertools.pairwise(bounds)]
    return [
        _DOCUMENT_START.sub("", chunk, count=1).lstrip("\n") if chunk.startswith("---") else chunk
        for chunk in chunks
    ]


def _ensure_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def _inputs(paths: list[str]) -> Iterator[tuple[str, str]]:
    if not paths or paths == ["-"]:
        yield "<stdin>", sys.stdin.read()
        return
    for name in paths:
        path = Path(name)
        if name == "-":
            yield "<stdin>", sys.stdin.read()
        elif path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.suffix in _YAML_SUFFIXES and p.is_file()):
                yield str(file), file.read_text()
        else:
            yield str(path), path.read_text()
