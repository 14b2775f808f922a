"""Identities: `ockam identity create/show/list/delete/default`, Ed25519 keys kept in vaults."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from cyclopts import Parameter

from ._app import DEFAULT, Common, YesOption, command_group, confirm, store, to_builtins
from ._feature import Feature
from ._identity_store import (
    DEFAULT_IDENTITY,
    DEFAULT_VAULT,
    IdentityInfo,
    create_identity,
    default_identity,
    delete_identity,
    get_identity,
    get_or_create_identity,
    list_identities,
    refuse_if_used,
    set_default_identity,
    show_identity,
)
from ._output import Printer

identity_app = command_group("identity", "Create and inspect identities (Ed25519 keys in a vault).")
FEATURE = Feature("identity", commands=[identity_app])

VaultOption = Annotated[
    str | None, Parameter(help="The vault that holds the identity (default: whichever does).")
]


class FullIdentity(msgspec.Struct, frozen=True):
    """`identity show NAME --full --output json`: the identity and its exported form."""

    name: str
    identifier: str
    vault: str
    is_default: bool
    public_key: str
    exported: str
    """What `--authority-identity` and `credential store --issuer` take (hex)."""


def _print_identity(printer: Printer, info: IdentityInfo, *, created: bool) -> None:
    verb = "created" if created else "is"
    printer.emit(
        plain=info.identifier,
        data=to_builtins(info),
        pretty=("[green]✔︎[/green] " if created else "")
        + f"Identity {info.name} {verb} {info.identifier}",
    )


def _the_default(home: Path) -> str:
    """The default identity's name; the identity `default` is created on first use."""
    name = default_identity(home)
    if name == DEFAULT_IDENTITY:
        get_or_create_identity(home, name)
    return name


@identity_app.command(name="create")
def identity_create(
    name: str | None = None, /, *, vault: str = DEFAULT_VAULT, common: Common = DEFAULT
) -> None:
    """Create an identity; prints its identifier.

    Parameters
    ----------
    name
        The identity's name (a random one when omitted); unique across vaults.
    vault
        The vault that keeps its private key.
    """
    printer = common.printer()
    info = create_identity(store().home, name or secrets.token_hex(4), vault=vault)
    _print_identity(printer, info, created=True)


@identity_app.command(name="show")
def identity_show(
    name: str | None = None,
    /,
    *,
    full: Annotated[bool, Parameter(negative="")] = False,
    encoding: Literal["plain", "hex"] = "plain",
    vault: VaultOption = None,
    common: Common = DEFAULT,
) -> None:
    """Print an identity's identifier, or with --full the whole exported identity.

    Parameters
    ----------
    name
        The identity (default: the default identity, created on first use).
    full
        Print the exported identity (its identifier and public key): what
        `node create --authority-identity` and `credential store --issuer` take.
    encoding
        How --full prints it: plain (readable) or hex (one string to copy).
    """
    printer = common.printer()
    home = store().home
    info = show_identity(home, name or _the_default(home), vault=vault)
    if not full:
        if encoding != "plain":
            raise ValueError("--encoding applies to --full only")
        _print_identity(printer, info, created=False)
        return
    public = get_identity(home, info.name, vault=info.vault).public
    exported = public.export_hex()
    readable = f"Identifier: {info.identifier}\nPublic key: {public.public_bytes.hex()}"
    shown = exported if encoding == "hex" else readable
    printer.emit(
        plain=shown,
        data=to_builtins(
            FullIdentity(
                name=info.name,
                identifier=info.identifier,
                vault=info.vault,
                is_default=info.is_default,
                public_key=public.public_bytes.hex(),
                exported=exported,
            )
        ),
    )


@identity_app.command(name="list")
def identity_list(*, vault: VaultOption = None, common: Common = DEFAULT) -> None:
    """List the identities (of one vault, or of all)."""
    printer = common.printer()
    identities = list_identities(store().home, vault=vault)
    printer.table(
        title="Identities",
        columns=["Name", "Identifier", "Vault", "Default"],
        rows=[[i.name, i.identifier, i.vault, "yes" if i.is_default else ""] for i in identities],
        data=to_builtins(identities),
        plain_rows=[f"{i.name}  {i.identifier}" for i in identities],
        empty="No identities: create one with `ockam identity create NAME`.",
    )


@identity_app.command(name="delete")
def identity_delete(
    name: Annotated[str, Parameter(help="The identity; one that a node uses is refused.")],
    /,
    *,
    yes: YesOption = False,
    common: Common = DEFAULT,
) -> None:
    """Delete an identity and its private key, for good."""
    printer = common.printer()
    state = store()
    info = show_identity(state.home, name)
    refuse_if_used(state, [name], f"identity {name!r}")
    confirm(f"Delete identity {name} ({info.identifier}) and its private key?", yes=yes)
    delete_identity(state.home, name, vault=info.vault)
    printer.emit(
        plain=name,
        data={"name": name},
        pretty=f"[green]✔︎[/green] The identity named {name} has been deleted",
    )


@identity_app.command(name="default")
def identity_default(name: str | None = None, /, *, common: Common = DEFAULT) -> None:
    """Show the default identity, or make another one the default.

    Parameters
    ----------
    name
        The identity to make the default (omit it to show the current one).
    """
    printer = common.printer()
    home = store().home
    if name is None:
        _print_identity(printer, show_identity(home, _the_default(home)), created=False)
        return
    info = set_default_identity(home, name)
    printer.emit(
        plain=info.identifier,
        data=to_builtins(info),
        pretty=f"[green]✔︎[/green] The identity named {name} is now the default",
    )
