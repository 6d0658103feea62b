"""Turning a rule set into steps, and steps into iptables-restore text: pure, no I/O.

A plan is a list of small operations that both backends carry out: the nft backend renders them as
`iptables-nft-restore --noflush` input against the table it read, the legacy backend performs them
with python-iptables. Installing flushes tracecar's chains and refills them, and adds a hook only
where none exists, so running init twice leaves one copy of each rule. Cleanup removes the hooks
into tracecar's chains and the chains, nothing else.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field

from proxy.interception.rules import Family, Rule, RuleSet


@dataclass(frozen=True)
class EnsureChain:
    """Create the chain, or empty it if it exists."""

    chain: str


@dataclass(frozen=True)
class AppendRule:
    rule: Rule


@dataclass(frozen=True)
class EnsureJump:
    """Append the hook unless its chain already jumps to the same target."""

    rule: Rule


@dataclass(frozen=True)
class RemoveJumps:
    """Delete every rule in `chain` that jumps to `target`."""

    chain: str
    target: str


@dataclass(frozen=True)
class FlushChain:
    chain: str


@dataclass(frozen=True)
class DeleteChain:
    chain: str


Op = EnsureChain | AppendRule | EnsureJump | RemoveJumps | FlushChain | DeleteChain


@dataclass(frozen=True)
class NatState:
    """A nat table as read back from iptables-save: declared chains and rules in order."""

    chains: frozenset[str] = frozenset()
    rules: tuple[Rule, ...] = field(default=())

    def jumps(self, chain: str, target: str) -> list[Rule]:
        return [rule for rule in self.rules if rule.chain == chain and rule.target == target]


def install_plan(ruleset: RuleSet) -> tuple[Op, ...]:
    return (
        *(EnsureChain(chain) for chain in ruleset.chains),
        *(AppendRule(rule) for rule in ruleset.rules),
        *(EnsureJump(rule) for rule in ruleset.jumps),
    )


def cleanup_plan(ruleset: RuleSet) -> tuple[Op, ...]:
    # Hooks go first and every chain is flushed before any is deleted: iptables refuses to delete
    # a chain that a rule still jumps to.
    return (
        *(RemoveJumps(rule.chain, rule.target or "") for rule in ruleset.jumps),
        *(FlushChain(chain) for chain in ruleset.chains),
        *(DeleteChain(chain) for chain in ruleset.chains),
    )


def installed_state(ruleset: RuleSet) -> NatState:
    """The table as it looks once `ruleset` is installed in an otherwise empty nat table."""
    return NatState(chains=frozenset(ruleset.chains), rules=(*ruleset.rules, *ruleset.jumps))


def render_save(ruleset: RuleSet) -> str:
    """The rule set in iptables-save form, as `--dry-run` prints it."""
    return render_restore(install_plan(ruleset), NatState())


def render_restore(ops: Iterable[Op], state: NatState) -> str:
    """`iptables-restore --noflush` input carrying out `ops` on a table now in `state`."""
    declarations: list[str] = []
    commands: list[str] = []
    for op in ops:
        if isinstance(op, EnsureChain):
            # With --noflush, declaring an existing user chain flushes it.
            declarations.append(f":{op.chain} - [0:0]")
        else:
            commands.extend(_commands(op, state))
    return "\n".join(["*nat", *declarations, *commands, "COMMIT", ""])


def _commands(op: Op, state: NatState) -> list[str]:
    if isinstance(op, AppendRule):
        return [_line("-A", op.rule)]
    if isinstance(op, EnsureJump):
        present = state.jumps(op.rule.chain, op.rule.target or "")
        return [] if present else [_line("-A", op.rule)]
    if isinstance(op, RemoveJumps):
        return [_line("-D", rule) for rule in state.jumps(op.chain, op.target)]
    if isinstance(op, FlushChain):
        return [f"-F {op.chain}"] if op.chain in state.chains else []
    if isinstance(op, DeleteChain):
        return [f"-X {op.chain}"] if op.chain in state.chains else []
    raise AssertionError(f"EnsureChain is a declaration, not a command: {op}")


def _line(command: str, rule: Rule) -> str:
    return " ".join([command, rule.chain, *(_quote(arg) for arg in rule.args)])


def _quote(arg: str) -> str:
    # iptables-restore splits on whitespace and understands double quotes only.
    if arg and not any(c.isspace() or c in "\"'\\" for c in arg):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def parse_save(text: str) -> NatState:
    """Read the `*nat` section of iptables-save output; other tables and comments are skipped."""
    chains: set[str] = set()
    rules: list[Rule] = []
    in_nat = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            in_nat = line == "*nat"
        elif not in_nat or line == "COMMIT":
            continue
        elif line.startswith(":"):
            chains.add(line[1:].split()[0])
        elif line.startswith("-A "):
            _, chain, *args = shlex.split(line)
            rules.append(Rule(chain, tuple(args)))
    return NatState(chains=frozenset(chains), rules=tuple(rules))


def count_rules(save_output: str) -> int:
    """How many rules an iptables-save dump holds, over all its tables."""
    return sum(1 for line in save_output.splitlines() if line.startswith("-A "))


def render_dry_run(rulesets: Iterable[RuleSet], *, cleanup: bool = False) -> str:
    """What `init --dry-run` prints: per family, the restore input init (or cleanup) would apply.

    Cleanup is shown against a table holding just tracecar's rules: a dry run reads nothing.
    """
    blocks = []
    for ruleset in rulesets:
        tool = "iptables" if ruleset.family is Family.IPV4 else "ip6tables"
        if cleanup:
            text = render_restore(cleanup_plan(ruleset), installed_state(ruleset))
        else:
            text = render_save(ruleset)
        blocks.append(f"# {ruleset.family.label}: {tool}-restore --noflush\n{text}")
    return "".join(blocks)
