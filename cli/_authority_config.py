"""An authority's configuration: `authority.json` in its node's folder.

`ockam authority create` writes it, and so does `ockam enroll` for a self-hosted project's
authority node; the node process's setup hook (`cli._authority.start_authority`) reads it.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from actors import MultiAddr, Segment, split_host_port
from secure import DEFAULT_CREDENTIAL_TTL, DEFAULT_LISTENER, check_identifier

from ._node_files import read_node_file, write_node_file
from ._routes import connect_address, listener_segment

AUTHORITY_FILE = "authority.json"
"""The file in a node's folder that makes it an authority."""

DEFAULT_AUTHORITY = "authority"
"""The authority's node name and identity name unless others are given (Ockam's)."""


class AuthorityConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What `authority create` writes to the node's `authority.json`.

    Attributes:
        project_id: The project's id (what an account-authority admin credential names).
        trusted_identities: The pre-trusted members: identifier to attributes.
        project_name: The project's name in tickets.
        account_authority: The account authority's exported identity (hex), or None.
        enforce_admin_checks: Only account-authority admins are admins.
        direct_authentication: Enrollers may list the members.
        token_enrollment: Enrollers may make tickets and newcomers redeem them.
        project_access_routes: Routes to the project node, as tickets carry them (empty:
            the authority's own route).
        project_identity: The project node's exported identity (hex; None: the authority's).
        credential_ttl: Seconds each member credential is valid for.
    """

    project_id: str
    trusted_identities: dict[str, dict[str, str]]
    project_name: str = "default"
    account_authority: str | None = None
    enforce_admin_checks: bool = False
    direct_authentication: bool = True
    token_enrollment: bool = True
    project_access_routes: list[str] = []
    project_identity: str | None = None
    credential_ttl: int = DEFAULT_CREDENTIAL_TTL


def table_prefix(identifier: str) -> str:
    """The prefix of an authority's member and ticket tables in the state database."""
    return f"authority_{check_identifier(identifier)[1:]}_"


def read_config(folder: Path) -> AuthorityConfig | None:
    """The authority configuration in a node's folder, or None if it is no authority.

    Raises:
        OckamError: The file is there but cannot be read.
    """
    return read_node_file(folder / AUTHORITY_FILE, AuthorityConfig, "authority configuration")


def write_config(folder: Path, config: AuthorityConfig) -> None:
    """Write `config` to the node's folder (mode 0600: it names who may do what)."""
    write_node_file(folder / AUTHORITY_FILE, config)


def api_route(listener: str, *, host: str | None = None) -> str:
    """The route to the secure channel listener `api` of a node listening on `listener`:
    through `host` (a public name or address of the machine) if given, else through the
    address a local client connects to (`0.0.0.0` is reached as loopback)."""
    address = connect_address(listener)
    if host is not None:
        _, port = split_host_port(listener)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    segments = [listener_segment(address), Segment("service", DEFAULT_LISTENER)]
    return str(MultiAddr(segments))
