"""The generated bpftrace script filters in the kernel what the policy says (loaded for real in
test_redis_fallback.py)."""

from __future__ import annotations

import re

from proxy.ebpf.program import CHUNK_BYTES, MAX_CHUNKS, Filter, printf, script


def test_printf_writes_one_json_object_and_the_payload_after_it() -> None:
    line = printf("data", [("sk", "%llu", "$k"), ("dir", '\\"%s\\"', "$dir")], payload="buf($p, $n)")
    head = '"{\\"e\\":\\"data\\",\\"sk\\":%llu,\\"dir\\":\\"%s\\"} %rx\\n"'
    expected = f"printf({head}, $k, $dir, buf($p, $n));"
    assert line == expected
    assert printf("ready", []) == 'printf("{\\"e\\":\\"ready\\"}\\n");'


def test_the_namespace_owner_and_port_filters_are_in_the_kernel_side() -> None:
    text = script(Filter(netns=4026532174, skip_uids=(1337,), skip_ports=(15001, 15006)))
    assert text.count("$sk->__sk_common.skc_net.net->ns.inum == 4026532174") == 2  # active and passive
    assert "!($sk->sk_uid.val == 1337)" in text
    assert "!(args->sport == 15001 || args->sport == 15006)" in text
    assert "syscalls" not in text  # no payload ports: no syscall probe taxes every read on the node


def test_payload_ports_add_the_syscall_probes_bounded_per_call() -> None:
    text = script(Filter(payload_ports=(6379, 5432)))
    ports = "(args->sport == 6379 || args->sport == 5432) || (args->dport == 6379 || args->dport == 5432)"
    assert ports in text
    probes = re.findall(r"^tracepoint:syscalls:(\w+)", text, re.MULTILINE)
    assert sorted(probes) == sorted(
        f"sys_{side}_{call}" for side in ("enter", "exit") for call in ("read", "recvfrom", "write", "sendto")
    )
    assert f"while ($i < {MAX_CHUNKS})" in text and f"$offset = $i * {CHUNK_BYTES};" in text
    assert "curtask->nsproxy" not in text  # node-level: every namespace


def test_braces_balance() -> None:
    text = script(Filter(netns=1, skip_uids=(1,), skip_ports=(2,), payload_ports=(3,)))
    code = re.sub(r'"(?:[^"\\]|\\.)*"', "", text)  # braces inside printf formats do not count
    assert code.count("{") == code.count("}")
