"""What `ockam enroll` prints: its JSON (`EnrollOutput`) and its words (`enroll_report`), in
Ockam's where they fit a self-hosted project."""

from __future__ import annotations

import ipaddress

import msgspec
from rich.markup import escape

from actors import MultiAddr, split_host_port

from ._project_store import ProjectModel, SelfHostedProject

AUTHORITY_FLAG = "--authority-tcp-listener-address"
PROJECT_FLAG = "--project-tcp-listener-address"


class EnrollOutput(msgspec.Struct, frozen=True):
    """`ockam enroll --output json`."""

    identity: str
    project: ProjectModel
    self_hosted: SelfHostedProject
    created: bool
    started: list[str]
    attributes: dict[str, str]


def enroll_report(output: EnrollOutput, admin_name: str, *, default: bool) -> list[str]:
    """What `ockam enroll` says, in Ockam's words where they fit a self-hosted project."""
    settings = output.self_hosted
    ok = "[green]✔︎[/green]"
    lines = [
        f"Enrolling identity {escape(admin_name)} with a self-hosted project on this machine..."
    ]
    if output.created:
        lines += [
            "No projects are defined on this machine.",
            "Creating a project for you...",
            f"{ok} Created project {settings.name}.",
        ]
    else:
        lines.append(f"Found project {settings.name}.")
    lines.append(
        f"Project {settings.name} is self-hosted: its nodes run on this machine, "
        "not in Ockam Orchestrator."
    )
    for what, member in [("Authority", settings.authority)] + [
        ("Project node (relays)", relay) for relay in settings.relays
    ]:
        state = "started" if member.node in output.started else "running"
        lines.append(
            f"  {what}: node {member.node} ({state}), listening on {escape(member.listener)}, "
            f"route {escape(member.route)}"
        )
    if default:
        lines.append(f"{ok} Marked this project as your default project, on this machine.")
    granted = ", ".join(f"{k}={v}" for k, v in sorted(output.attributes.items()))
    lines.append(
        f"{ok} Enrolled {output.identity} as the admin and first member of project "
        f"{settings.name} ({granted})."
        if output.created
        else f"{ok} Identity {output.identity} is enrolled as the admin of project "
        f"{settings.name} ({granted})."
    )
    if not output.created and not output.started:
        lines.append("The project's nodes are running: nothing changed.")
    lines += [
        "",
        "To let another machine join: run `ockam project ticket` here, then "
        "`ockam project enroll TICKET` there; it must reach both routes above.",
    ]
    members = [settings.authority, *settings.relays]
    if all(_is_loopback(member.route) for member in members):
        lines.append(
            "Both listen on this machine's loopback only: to serve other machines, set the "
            f"project up on a public address (`ockam enroll {AUTHORITY_FLAG} 0.0.0.0:PORT "
            f"{PROJECT_FLAG} 0.0.0.0:PORT --public-address HOST` in a fresh home)."
        )
    for member in members:
        listens = split_host_port(member.listener)[0]
        if _is_loopback_host(listens) and not _is_loopback(member.route):
            lines.append(
                f"Warning: node {member.node} listens on {escape(member.listener)}, which "
                f"other machines cannot reach, though its route says {escape(member.route)}: "
                f"set it up with {AUTHORITY_FLAG} and {PROJECT_FLAG} on 0.0.0.0 or a public "
                "address, in a fresh home."
            )
    return lines


def _is_loopback(route: str) -> bool:
    """True when `route` starts at an address of this machine's loopback only."""
    first = MultiAddr.parse(route).segments[0]
    if first.kind not in ("ip4", "ip6", "dnsaddr"):
        return False
    return _is_loopback_host(split_host_port(first.value)[0])


def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
