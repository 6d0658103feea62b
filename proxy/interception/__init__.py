"""Traffic interception: the nat rules that send a pod's TCP traffic through the proxy.

`rules` says which rules (pure), `plan` turns them into steps and iptables-restore text (pure),
`backend` picks legacy or nft iptables and applies the steps, `legacy` does so with python-iptables.
"""

from __future__ import annotations
