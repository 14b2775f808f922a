"""Identities: `ockam identity create/show/list`, Ed25519 keys kept in a vault."""

from __future__ import annotations

import secrets
from typing import Annotated

from cyclopts import Parameter

from ._app import DEFAULT, Common, command_group, store, to_builtins
from ._feature import Feature
from ._identity_store import (
    DEFAULT_IDENTITY,
    DEFAULT_VAULT,
    IdentityInfo,
    create_identity,
    get_or_create_identity,
    list_identities,
    show_identity,
)
from ._output import Printer

identity_app = command_group("identity", "Create and inspect identities (Ed25519 keys in a vault).")
FEATURE = Feature("identity", commands=[identity_app])

Vault = Annotated[str, Parameter(help="The vault that holds the identities.")]


def _print_identity(printer: Printer, info: IdentityInfo, *, created: bool) -> None:
    verb = "created" if created else "is"
    printer.emit(
        plain=info.identifier,
        data=to_builtins(info),
        pretty=("[green]✔︎[/green] " if created else "")
        + f"Identity {info.name} {verb} {info.identifier}",
    )


@identity_app.command(name="create")
def identity_create(
    name: str | None = None, /, *, vault: Vault = DEFAULT_VAULT, common: Common = DEFAULT
) -> None:
    """Create an identity; prints its identifier.

    Parameters
    ----------
    name
        The identity's name (a random one when omitted).
    """
    printer = common.printer()
    info = create_identity(store().home, name or secrets.token_hex(4), vault=vault)
    _print_identity(printer, info, created=True)


@identity_app.command(name="show")
def identity_show(
    name: str | None = None, /, *, vault: Vault = DEFAULT_VAULT, common: Common = DEFAULT
) -> None:
    """Print an identity's identifier.

    Parameters
    ----------
    name
        The identity (default: the identity named "default", created on first use).
    """
    printer = common.printer()
    home = store().home
    if name is None:
        name = DEFAULT_IDENTITY
        get_or_create_identity(home, name, vault=vault)
    _print_identity(printer, show_identity(home, name, vault=vault), created=False)


@identity_app.command(name="list")
def identity_list(*, vault: Vault = DEFAULT_VAULT, common: Common = DEFAULT) -> None:
    """List the identities in a vault."""
    printer = common.printer()
    identities = list_identities(store().home, vault=vault)
    printer.table(
        title="Identities",
        columns=["Name", "Identifier"],
        rows=[[i.name, i.identifier] for i in identities],
        data=to_builtins(identities),
        plain_rows=[f"{i.name}  {i.identifier}" for i in identities],
        empty="No identities: create one with `ockam identity create NAME`.",
    )
