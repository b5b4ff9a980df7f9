"""Egress rules for the sandbox network: the internet (registries) yes; this host, the LAN and
link-local addresses (cloud metadata services) no.

Docker's `enable_icc=false` only stops sandboxes talking to each other. These iptables rules (host
INPUT from the sandbox bridge; forwarded traffic from it to private and link-local ranges) need root;
without them, network phases are refused unless the operator accepts the risk.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from pathlib import Path

from docker.models.networks import Network

from sandbox.errors import SandboxError

log = logging.getLogger(__name__)

BLOCKED_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10")


class IsolationError(SandboxError):
    pass


def bridge_name(network: Network) -> str:
    options = network.attrs.get("Options") or {}
    return options.get("com.docker.network.bridge.name") or f"br-{network.id[:12]}"


def nameservers(resolv_conf: Path = Path("/etc/resolv.conf")) -> list[str]:
    """The host's DNS servers: Docker's embedded DNS forwards sandboxes' look-ups to them."""
    try:
        lines = resolv_conf.read_text().splitlines()
    except OSError:
        return []
    found = [line.split()[1] for line in lines if line.startswith("nameserver") and len(line.split()) > 1]
    return [ip for ip in found if re.fullmatch(r"[0-9.]+", ip) and not ip.startswith("127.")]


def rules_for(bridge: str, dns_servers: list[str]) -> list[tuple[str, list[str]]]:
    """In order: DNS to the host's resolvers allowed, then the host and private ranges dropped."""
    rules = [("INPUT", ["-i", bridge, "-j", "DROP"])]
    for server in dns_servers:
        for proto in ("udp", "tcp"):
            rules.append(("DOCKER-USER", ["-i", bridge, "-d", server, "-p", proto, "--dport", "53", "-j", "RETURN"]))
    rules += [("DOCKER-USER", ["-i", bridge, "-d", cidr, "-j", "DROP"]) for cidr in BLOCKED_RANGES]
    return rules


def isolate(network: Network) -> None:
    """Install the rules for this network's bridge (idempotent)."""
    iptables = shutil.which("iptables")
    if iptables is None:
        raise IsolationError("iptables is not installed")
    bridge = bridge_name(network)
    position: dict[str, int] = {}
    for chain, spec in rules_for(bridge, nameservers()):
        position[chain] = position.get(chain, 0) + 1
        present = subprocess.run([iptables, "-w", "-C", chain, *spec], capture_output=True, check=False)
        if present.returncode == 0:
            continue
        added = subprocess.run(
            [iptables, "-w", "-I", chain, str(position[chain]), *spec], capture_output=True, text=True, check=False
        )
        if added.returncode != 0:
            raise IsolationError(f"cannot add iptables rule to {chain}: {added.stderr.strip()}")
    log.info("sandbox network %s (%s) isolated from this host and private ranges", network.name, bridge)


def missing_rules(network: Network) -> list[str]:
    """The isolation rules not in place for this network's bridge (read only: `iptables -C`)."""
    iptables = shutil.which("iptables")
    if iptables is None:
        raise IsolationError("iptables is not installed")
    missing = []
    for chain, spec in rules_for(bridge_name(network), nameservers()):
        present = subprocess.run([iptables, "-w", "-C", chain, *spec], capture_output=True, check=False)
        if present.returncode != 0:
            missing.append(f"{chain} {' '.join(spec)}")
    return missing
