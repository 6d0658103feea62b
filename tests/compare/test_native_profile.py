"""perf's samples folded into stacks that name compiled functions, system calls and the kernel's work."""

from __future__ import annotations

from pathlib import Path

from loadtests.native_profile import fold
from loadtests.profiles import top_functions

SAMPLES = Path(__file__).parent / "samples" / "perf_script.txt"  # three samples of a real `perf script`


def test_real_samples_fold_to_compiled_functions_syscalls_and_leaves() -> None:
    stacks = dict(line.rsplit(" ", 1) for line in fold(SAMPLES.read_text()).splitlines())
    send = (
        "forwarder.Downstream.data_received;forwarder.Downstream._advance;forwarder.Downstream._start_request;"
        "pool.Pool.acquire;forwarder.Upstream.begin;forwarder.Upstream.send;syscall write;softirq;"
        "(kernel __netif_receive_skb_core.constprop.0)"
    )
    assert stacks[send] == "1"
    # an inlined leaf belongs to the library it was inlined into; CPyDef_/CPyPy_ pairs are one frame
    assert any(s.endswith("propagators.Propagators.hop;headers.replace;(CPython runtime)") for s in stacks)
    assert any(s.endswith("_finish_exchange;worker.finished_exchange_recorder_obj.__call__") for s in stacks)


def test_leaves_are_named_by_library_and_consecutive_repeats_collapse() -> None:
    script = (
        "python 1 1.0: 1 cpu-clock:\n"
        "\t 10 __memmove_avx512_unaligned_erms+0x1 (/usr/lib/libc.so.6)\n"
        "\t 20 CPyDef_relay___Relay___data_received+0x2 (/x/tracecar_hotpath__mypyc.so)\n"
        "\t 21 CPyDef_relay___Relay___data_received+0x9 (/x/tracecar_hotpath__mypyc.so)\n"
        "\t 30 uv__read+0x3 (/x/uvloop/loop.so)\n"
        "\n"
        "python 1 2.0: 1 cpu-clock:\n"
        "\t 40 _raw_spin_unlock_irqrestore+0x1 ([kernel.kallsyms])\n"
        "\t 41 __x64_sys_epoll_pwait+0x1 ([kernel.kallsyms])\n"
        "\t 42 uv__io_poll+0x1 (/x/uvloop/loop.so)\n"
        "\n"
        "python 1 3.0: 1 cpu-clock:\n"
        "\t 50 uv__io_poll+0x1 (/x/uvloop/loop.so)\n"
    )
    assert fold(script).splitlines() == [
        "(uvloop) 1",
        "relay.Relay.data_received;(libc memmove) 1",
        "syscall epoll_pwait;(kernel _raw_spin_unlock_irqrestore) 1",
    ]


def test_ranking_by_the_share_on_the_stack() -> None:
    collapsed = "a;b 30\na;c 50\nd 20\n"
    samples, top = top_functions(collapsed, limit=2, by_total=True)
    assert samples == 100
    assert [(h.function, h.self_share, h.total_share) for h in top] == [("a", 0.0, 0.8), ("c", 0.5, 0.5)]


def test_a_system_call_is_named_by_what_the_entry_called_when_its_wrapper_is_inlined() -> None:
    # nginx's writev, as perf shows it on this kernel: no __x64_sys_writev frame between the two
    script = (
        "nginx 7 1.0: 1 cpu-clock:\n"
        "\t 10 tcp_sendmsg_locked+0x1 ([kernel.kallsyms])\n"
        "\t 11 do_writev+0x2 ([kernel.kallsyms])\n"
        "\t 12 do_syscall_64+0x3 ([kernel.kallsyms])\n"
        "\t 13 entry_SYSCALL_64_after_hwframe+0x4 ([kernel.kallsyms])\n"
        "\t 14 __GI___writev+0x5 (/usr/lib/libc.so.6)\n"
        "\t 15 ngx_writev+0x6 (/usr/sbin/nginx)\n"
        "\n"
        "nginx 7 2.0: 1 cpu-clock:\n"
        "\t 20 finish_task_switch.isra.0+0x1 ([kernel.kallsyms])\n"
        "\t 21 __schedule+0x1 ([kernel.kallsyms])\n"
        "\t 22 do_epoll_wait.isra.0+0x2 ([kernel.kallsyms])\n"
        "\t 23 x64_sys_call+0x2 ([kernel.kallsyms])\n"
        "\t 24 do_syscall_64+0x3 ([kernel.kallsyms])\n"
        "\t 25 epoll_wait+0x5 (/usr/lib/libc.so.6)\n"
        "\n"
        "nginx 7 3.0: 1 cpu-clock:\n"
        "\t 30 finish_task_switch.isra.0+0x1 ([kernel.kallsyms])\n"
        "\t 31 __schedule+0x1 ([kernel.kallsyms])\n"
        "\t 32 exit_to_user_mode_loop+0x2 ([kernel.kallsyms])\n"
        "\t 33 do_syscall_64+0x3 ([kernel.kallsyms])\n"
        "\t 34 __GI___writev+0x5 (/usr/lib/libc.so.6)\n"
    )
    assert fold(script).splitlines() == [
        "scheduler;(kernel finish_task_switch.isra.0) 1",  # on the way back from a call: not the call
        "syscall epoll_wait;scheduler;(kernel finish_task_switch.isra.0) 1",
        "syscall writev;(kernel tcp_sendmsg_locked) 1",
    ]
