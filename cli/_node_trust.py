"""Nodes that trust an authority: `node create --authority-identity HEX [--authority-route R]
[--credential-scope S] [--credential HEX]`, and the setup that makes a node process trust it.

`node create` checks the flags (`trust_config`) and writes them to the node's folder as
`trust.json` (mode 0600) before the node process starts (`save_trust`); the process's setup hook
(`start_trust`, run after the secure channels are set up) reads it back. So `node start`
brings a stopped node back trusting the same authority, and `node delete` (which removes the
folder) forgets it.

A trusting node's secure channels present its own credential and verify the other end's
against the authority (`secure.TrustContext`); its outlets and inlets get Ockam's default
policy, `(= subject.has_credential true)`, unless they have their own. Its credential is the
freshest valid one of: `--credential`, those `credential store --at NODE` stored, and, with an
authority route, the ones it fetches from the authority and refreshes before they expire
(`secure.CredentialRefresher`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import msgspec
import trio
from cyclopts import Parameter

from secure import (
    DEFAULT_CREDENTIAL_SCOPE,
    DEFAULT_LISTENER,
    Credential,
    CredentialError,
    CredentialRefresher,
    IdentityError,
    IdentityPublic,
    SecureChannels,
    TrustContext,
)

from ._controller import NodeController
from ._credential_store import check, parse_credential, stored_credentials
from ._identity_store import get_or_create_identity
from ._node_files import read_node_file, write_node_file
from ._routes import resolve_route
from ._state import StateStore

log = logging.getLogger("ockam.trust")

TRUST_FILE = "trust.json"
"""The file in a node's folder that makes it trust an authority."""

REFRESHER = "credential_refresher"
"""The local address of a node's `CredentialRefresher`."""


@Parameter(name="*")
@dataclass(frozen=True)
class TrustOptions:
    """`node create`'s trust flags."""

    authority_identity: Annotated[
        str | None,
        Parameter(
            help="The exported identity (hex) of the authority the node trusts: what "
            "`ockam identity show NAME --full --encoding hex` prints."
        ),
    ] = None
    authority_route: Annotated[
        str | None,
        Parameter(
            help="The route to the authority's secure channel listener, like "
            "/node/authority/service/api: the node fetches its credential there and "
            "refreshes it before it expires."
        ),
    ] = None
    credential_scope: Annotated[
        str | None,
        Parameter(help=f"The scope credentials must have (default: {DEFAULT_CREDENTIAL_SCOPE})."),
    ] = None
    credential: Annotated[
        str | None,
        Parameter(help="The node's own credential (hex, from `ockam credential issue`)."),
    ] = None

    @property
    def given(self) -> bool:
        """Whether any trust flag was given."""
        return any(
            v is not None
            for v in (
                self.authority_identity,
                self.authority_route,
                self.credential_scope,
                self.credential,
            )
        )


NO_TRUST = TrustOptions()


class TrustConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What `node create` writes to the node's `trust.json`.

    Attributes:
        authority_identity: The trusted authority's exported identity (hex).
        credential_scope: The scope the node's channels require of credentials.
        authority_route: The resolved route to the authority's listener, or None.
        credential: The node's initial credential (hex), or None.
    """

    authority_identity: str
    credential_scope: str = DEFAULT_CREDENTIAL_SCOPE
    authority_route: str | None = None
    credential: str | None = None


def trust_config(
    state: StateStore, identity_name: str, options: TrustOptions
) -> TrustConfig | None:
    """The checked trust configuration of a node using identity `identity_name`; None when no
    trust flag was given. The identity is created when missing, so that `--credential` can be
    checked to be about it.

    Raises:
        ValueError: A flag is malformed, or given without `--authority-identity`.
        CredentialRefused: `--credential` is not the authority's, not valid now, or not about
            the node's identity.
    """
    if options.authority_identity is None:
        if options.given:
            raise ValueError(
                "--authority-route, --credential-scope and --credential need "
                "--authority-identity (the authority the node trusts)"
            )
        return None
    try:
        authority = IdentityPublic.from_exported(options.authority_identity)
    except IdentityError as exc:
        raise ValueError(
            f"bad --authority-identity: {exc} (expected what "
            "`ockam identity show NAME --full --encoding hex` prints)"
        ) from None
    scope = DEFAULT_CREDENTIAL_SCOPE
    if options.credential_scope is not None:
        scope = options.credential_scope.strip()
        if not scope or not scope.isprintable():
            raise ValueError(f"bad --credential-scope {options.credential_scope!r}")
    route = None
    if options.authority_route is not None:
        route = str(resolve_route(options.authority_route, state))
    credential = None
    if options.credential is not None:
        parsed = parse_credential(options.credential)
        identity, _ = get_or_create_identity(state.home, identity_name)
        check(
            parsed,
            issuer=authority.identifier,
            now=time.time(),
            subject=identity.identifier,
            scope=scope,
        )
        credential = parsed.hex()
    return TrustConfig(
        authority_identity=authority.export_hex(),
        credential_scope=scope,
        authority_route=route,
        credential=credential,
    )


def save_trust(folder: Path, config: TrustConfig | None) -> None:
    """Write `config` to a node's folder (mode 0600), or remove a stale one when None."""
    path = folder / TRUST_FILE
    if config is None:
        path.unlink(missing_ok=True)
        return
    write_node_file(path, config)


def prepare_trust(
    state: StateStore, node: str, identity: str | None, options: TrustOptions, *, keep: bool
) -> None:
    """`node create`'s hook: check the trust flags and write them to the node's folder.

    With `keep` (a node process started with `--foreground`), a folder's configuration stays
    when no flag is given: the background `node create` that spawned the process wrote it.
    """
    if keep and not options.given:
        return
    save_trust(state.node_dir(node), trust_config(state, identity or node, options))


def read_trust(folder: Path) -> TrustConfig | None:
    """The trust configuration in a node's folder, or None when it trusts no authority.

    Raises:
        OckamError: The file is there but cannot be read.
    """
    return read_node_file(folder / TRUST_FILE, TrustConfig, "trust configuration")


async def start_trust(controller: NodeController) -> None:
    """Make this node trust the authority its folder names (see the module docstring)."""
    config = read_trust(controller.home)
    if config is None:
        return
    channels = controller.channels()
    authority = IdentityPublic.from_exported(config.authority_identity)
    trust = TrustContext(
        [authority], scope=config.credential_scope, authority_route=config.authority_route
    )
    settings = channels.settings
    trusted = SecureChannels(
        controller.node,
        settings.identity,
        static_private=settings.static_private,
        keepalive_interval=settings.keepalive_interval,
        keepalive_timeout=settings.keepalive_timeout,
        trust=trust,
    )
    # No channel is open yet: the listener `api` is replaced by one that presents and verifies.
    channels.delete_listener(DEFAULT_LISTENER)
    await trusted.create_listener(DEFAULT_LISTENER)
    controller.secure = trusted
    controller.portals.policies.set_trust_defaults()
    home = controller.home.parent.parent
    stored = await trio.to_thread.run_sync(
        lambda: [row.credential for row in stored_credentials(home, node=controller.node.name)]
    )
    own = _freshest(trust, trusted.identifier, [config.credential, *stored])
    if own is not None:
        await trusted.present_credential(own)
    if trust.authority_route is not None:
        await controller.node.start_actor(CredentialRefresher(trusted), REFRESHER)
    log.info(
        "node %s trusts authority %s (scope %s)%s; %s",
        controller.node.name,
        authority.identifier,
        trust.scope,
        f", fetching its credential from {trust.authority_route}" if trust.authority_route else "",
        "it has no valid credential yet"
        if own is None
        else f"its credential expires at {own.unverified_data().expires}",
    )


def _freshest(trust: TrustContext, identifier: str, texts: list[str | None]) -> Credential | None:
    """The valid credential about `identifier` that expires last, among `texts` (hex)."""
    best: Credential | None = None
    best_expiry = 0
    for text in texts:
        if text is None:
            continue
        try:
            credential = Credential.from_hex(text)
            data = trust.verify(credential, subject=identifier)
        except CredentialError as exc:
            log.info("not presenting a stored credential: %s", exc)
            continue
        if data.expires > best_expiry:
            best, best_expiry = credential, data.expires
    return best
