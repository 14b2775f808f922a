"""Vaults: `ockam vault create/list`, the files that keep secret keys."""

from __future__ import annotations

import secrets

from ._app import DEFAULT, Common, command_group, store, to_builtins
from ._feature import Feature
from ._identity_store import create_vault, list_vaults

vault_app = command_group("vault", "Create and list vaults, the files that keep secret keys.")
FEATURE = Feature("vault", commands=[vault_app])


@vault_app.command(name="create")
def vault_create(name: str | None = None, /, *, common: Common = DEFAULT) -> None:
    """Create a vault, a file under $OCKAM_HOME/vaults/NAME/ only you can read.

    Parameters
    ----------
    name
        The vault's name (a random one when omitted).
    """
    printer = common.printer()
    info = create_vault(store().home, name or secrets.token_hex(4))
    printer.emit(
        plain=info.name,
        data=to_builtins(info),
        pretty=f"[green]✔︎[/green] Vault {info.name} created at {info.path}",
    )


@vault_app.command(name="list")
def vault_list(*, common: Common = DEFAULT) -> None:
    """List the vaults."""
    printer = common.printer()
    vaults = list_vaults(store().home)
    printer.table(
        title="Vaults",
        columns=["Name", "Path"],
        rows=[[v.name, v.path] for v in vaults],
        data=to_builtins(vaults),
        plain_rows=[v.name for v in vaults],
        empty="No vaults yet: `ockam vault create` makes one.",
    )
