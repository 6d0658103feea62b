"""The bpftrace script, as text: a pure function of what the kernel side must filter and capture.

Kernel tracepoints only (kprobes are not always available): `sock:inet_sock_set_state` opens and
closes connections, `sock:sock_{send,recv}_length` count their bytes, `tcp:tcp_{send,receive}_reset`
mark resets, and for payload ports the `read`/`write`/`sendto`/`recvfrom` syscall tracepoints copy
the bytes. A syscall knows a buffer and a file descriptor, not a socket: the socket tracepoint that
fires inside the same syscall on the same thread names it, so the buffer is kept per thread from
syscall entry to exit.

Each event is one `printf`: a JSON object, then for payload a space and the bytes as `\\xNN`
escapes (bpftrace's `%rx`). Run with `-f json`, bpftrace wraps every line in its own JSON envelope.
Per-connection state lives in maps keyed by the socket's address; a connection is named by that
address plus its start time, since a freed socket's address is reused. `seq` orders a
connection's events: bpftrace reads per-CPU buffers, which can interleave them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

CHUNK_BYTES = 128  # buffers live on the 512-byte BPF stack in bpftrace 0.17: 200 overflows it here
MAX_CHUNKS = 8  # per syscall: at most 1 KiB of payload is copied; the rest of a longer one is not
CAPTURE_LIMIT = CHUNK_BYTES * MAX_CHUNKS
PERF_PAGES = 256  # per-CPU event buffer (1 MiB): bursts of payload wait here, not get lost
ENVIRONMENT = {"BPFTRACE_STRLEN": str(CHUNK_BYTES), "BPFTRACE_PERF_RB_PAGES": str(PERF_PAGES)}

# Linux TCP states (include/net/tcp_states.h).
TCP_ESTABLISHED, TCP_SYN_SENT, TCP_SYN_RECV, TCP_CLOSE, TCP_CLOSE_WAIT = 1, 2, 3, 7, 8
RESET_RECEIVED, RESET_SENT, ABORTED = 1, 2, 3  # the close event's `rst`
AF_INET, IPPROTO_TCP, MSG_PEEK = 2, 6, 2
# Syscalls that move payload, with the name of their buffer argument.
READS = (("read", "buf"), ("recvfrom", "ubuf"))
WRITES = (("write", "buf"), ("sendto", "buff"))

Field = tuple[str, str, str]  # (JSON name, printf conversion, bpftrace expression)


@dataclass(frozen=True)
class Filter:
    """What the kernel side keeps: the rest of the policy is applied in Python (`policy`)."""

    netns: int = 0  # network namespace inode; 0: every namespace (node-level)
    skip_uids: tuple[int, ...] = ()  # socket owners never reported (the proxy's uid)
    skip_ports: tuple[int, ...] = ()  # local ports never reported (the proxy's listeners)
    payload_ports: tuple[int, ...] = ()  # connections to or from these ports get their bytes copied


def script(spec: Filter) -> str:
    parts = [_BEGIN, _state_probe(spec), _BYTES, _RESETS]
    if spec.payload_ports:
        parts.append(_payload_probes(spec))
    return "\n".join(parts)


def printf(event: str, fields: Sequence[Field], payload: str = "") -> str:
    """`printf` of one JSON event line; `payload`, a buf() expression, follows it as `%rx`."""
    members = [f'\\"e\\":\\"{event}\\"'] + [f'\\"{name}\\":{conversion}' for name, conversion, _ in fields]
    text = "{" + ",".join(members) + "}" + (" %rx" if payload else "") + "\\n"
    arguments = [expression for _, _, expression in fields] + ([payload] if payload else [])
    return "printf(" + ", ".join(['"' + text + '"', *arguments]) + ");"


def _any(expression: str, values: tuple[int, ...]) -> str:
    """`(e == 1 || e == 2)`; `0` when there are no values."""
    if not values:
        return "0"
    return "(" + " || ".join(f"{expression} == {value}" for value in values) + ")"


def _keep(spec: Filter) -> str:
    """True for a socket worth following: in the namespace, not skipped by owner or local port."""
    conditions = [f"!{_any('$sk->sk_uid.val', spec.skip_uids)}", f"!{_any('args->sport', spec.skip_ports)}"]
    if spec.netns:
        conditions.append(f"$sk->__sk_common.skc_net.net->ns.inum == {spec.netns}")
    return " && ".join(conditions)


_BEGIN = f"BEGIN {{ {printf('ready', [])} }}\n"

_STRING = '\\"%s\\"'


def _connection_fields(family: str) -> list[Field]:
    suffix = "" if family == "v4" else "_v6"
    return [
        ("sk", "%llu", "$k"),
        ("t", "%llu", "$start"),
        ("dir", _STRING, "$dir"),
        ("uid", "%u", "$sk->sk_uid.val"),
        ("ns", "%u", "$sk->__sk_common.skc_net.net->ns.inum"),
        ("src", _STRING, f"ntop(args->saddr{suffix})"),
        ("sport", "%u", "args->sport"),
        ("dst", _STRING, f"ntop(args->daddr{suffix})"),
        ("dport", "%u", "args->dport"),
        ("cap", "%d", "$cap"),
    ]


def _print_connection(event: str, extra: Sequence[Field] = ()) -> str:
    v4 = printf(event, [*_connection_fields("v4"), *extra])
    v6 = printf(event, [*_connection_fields("v6"), *extra])
    return f"if (args->family == {AF_INET}) {{ {v4} }} else {{ {v6} }}"


_CLOSE_FIELDS: list[Field] = [
    ("sk", "%llu", "$k"),
    ("t", "%llu", "@start[$k]"),
    ("seq", "%llu", "@seq[$k]"),
    ("end", "%llu", "nsecs"),
    ("tx", "%llu", "@tx[$k]"),
    ("rx", "%llu", "@rx[$k]"),
    ("rst", "%d", "$reset"),
    ("err", "%d", "$sk->sk_err"),
]


def _state_probe(spec: Filter) -> str:
    capture = f"{_any('args->sport', spec.payload_ports)} || {_any('args->dport', spec.payload_ports)}"
    failed = _print_connection("failed", [("end", "%llu", "nsecs"), ("err", "%d", "$sk->sk_err")])
    return f"""\
tracepoint:sock:inet_sock_set_state /args->protocol == {IPPROTO_TCP}/ {{
  $sk = (struct sock *)args->skaddr;
  $k = (uint64)args->skaddr;
  if (args->newstate == {TCP_SYN_SENT} && {_keep(spec)}) {{
    @connecting[$k] = nsecs;
  }}
  $start = (uint64)0;
  $dir = "out";
  if (args->oldstate == {TCP_SYN_SENT} && @connecting[$k]) {{
    $start = @connecting[$k];
    delete(@connecting[$k]);
  }}
  if (args->oldstate == {TCP_SYN_RECV} && args->newstate == {TCP_ESTABLISHED} && {_keep(spec)}) {{
    $start = nsecs;
    $dir = "in";
  }}
  $cap = {capture} ? 1 : 0;
  if ($start && args->newstate == {TCP_ESTABLISHED}) {{
    @start[$k] = $start;
    if ($cap) {{ @capture[$k] = 1; }}
    {_print_connection("open")}
  }}
  if ($start && args->newstate == {TCP_CLOSE}) {{
    {failed}
  }}
  if (args->newstate == {TCP_CLOSE} && @start[$k]) {{
    @seq[$k] = @seq[$k] + 1;
    $reset = @reset[$k];
    if (!$reset && (args->oldstate == {TCP_ESTABLISHED} || args->oldstate == {TCP_CLOSE_WAIT})) {{
      $reset = {ABORTED};  // no FIN handshake: an abort (SO_LINGER 0 sends its RST after this)
    }}
    {printf("close", _CLOSE_FIELDS)}
    delete(@start[$k]); delete(@seq[$k]); delete(@tx[$k]); delete(@rx[$k]);
    delete(@reset[$k]); delete(@capture[$k]);
  }}
}}
"""


_BYTES = f"""\
tracepoint:sock:sock_send_length /args->ret > 0 && @start[(uint64)args->sk]/ {{
  $k = (uint64)args->sk;
  @tx[$k] = @tx[$k] + args->ret;
  if (@capture[$k]) {{ @sending[tid] = $k; }}
}}
tracepoint:sock:sock_recv_length /args->ret > 0 && !(args->flags & {MSG_PEEK}) && @start[(uint64)args->sk]/ {{
  $k = (uint64)args->sk;
  @rx[$k] = @rx[$k] + args->ret;
  if (@capture[$k]) {{ @receiving[tid] = $k; }}
}}
"""

_RESETS = f"""\
tracepoint:tcp:tcp_receive_reset /@start[(uint64)args->skaddr]/ {{
  @reset[(uint64)args->skaddr] = {RESET_RECEIVED};
}}
tracepoint:tcp:tcp_send_reset /@start[(uint64)args->skaddr]/ {{
  @reset[(uint64)args->skaddr] = {RESET_SENT};
}}
"""

_DATA_FIELDS: list[Field] = [
    ("sk", "%llu", "$k"),
    ("t", "%llu", "$start"),
    ("seq", "%llu", "$seq"),
    ("at", "%llu", "$at"),
    ("dir", _STRING, "$dir"),
    ("len", "%d", "args->ret"),
    ("off", "%d", "$offset"),
]


def _payload_probes(spec: Filter) -> str:
    in_netns = f"curtask->nsproxy->net_ns->ns.inum == {spec.netns}" if spec.netns else "1"
    probes = [
        f"tracepoint:syscalls:sys_enter_{call} /{in_netns}/ {{ @buffer[tid] = (uint64)args->{name}; }}"
        for call, name in (*READS, *WRITES)
    ]
    probes += [_payload_exit(call, "rx", "@receiving") for call, _ in READS]
    probes += [_payload_exit(call, "tx", "@sending") for call, _ in WRITES]
    return "\n".join(probes) + "\n"


def _payload_exit(call: str, direction: str, owner: str) -> str:
    chunk = printf("data", _DATA_FIELDS, payload="buf($buffer + $offset, $n)")
    return f"""\
tracepoint:syscalls:sys_exit_{call} /@buffer[tid]/ {{
  $k = {owner}[tid];
  if ($k != 0 && args->ret > 0 && @start[$k]) {{
    @seq[$k] = @seq[$k] + 1;
    $start = @start[$k];
    $seq = @seq[$k];
    $buffer = @buffer[tid];
    $at = nsecs;
    $dir = "{direction}";
    $i = 0;
    while ($i < {MAX_CHUNKS}) {{
      $offset = $i * {CHUNK_BYTES};
      if ($offset < args->ret) {{
        $n = args->ret - $offset;
        $n = $n > {CHUNK_BYTES} ? {CHUNK_BYTES} : $n;
        {chunk}
      }}
      $i++;
    }}
  }}
  delete({owner}[tid]);
  delete(@buffer[tid]);
}}"""
