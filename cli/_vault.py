"""Vaults: `ockam vault create/show/list/delete/move`, the files that keep secret keys."""

from __future__ import annotations

import secrets

from . import _identity_store as vault_store
from ._app import DEFAULT, Common, YesOption, command_group, confirm, store, to_builtins
from ._feature import Feature
from ._output import Printer

vault_app = command_group("vault", "Create and manage vaults, the files that keep secret keys.")
FEATURE = Feature("vault", commands=[vault_app])


def _describe(info: vault_store.VaultInfo) -> str:
    identities = ", ".join(info.identities) or "none"
    default = " (default)" if info.is_default else ""
    return f"Vault {info.name}{default}\n  path: {info.path}\n  identities: {identities}"


def _emit(printer: Printer, info: vault_store.VaultInfo, pretty: str) -> None:
    printer.emit(plain=info.name, data=to_builtins(info), pretty=pretty)


@vault_app.command(name="create")
def vault_create(
    name: str | None = None, /, *, path: str | None = None, common: Common = DEFAULT
) -> None:
    """Create a vault, a file only you can read (mode 0600).

    Parameters
    ----------
    name
        The vault's name (a random one when omitted).
    path
        Where its file goes (a new file; default: $OCKAM_HOME/vaults/NAME/vault.json).
    """
    printer = common.printer()
    info = vault_store.create_vault(store().home, name or secrets.token_hex(4), path=path)
    _emit(printer, info, f"[green]✔︎[/green] Vault {info.name} created at {info.path}")


@vault_app.command(name="show")
def vault_show(name: str = vault_store.DEFAULT_VAULT, /, *, common: Common = DEFAULT) -> None:
    """Show a vault: its file and the identities it holds.

    Parameters
    ----------
    name
        The vault.
    """
    printer = common.printer()
    info = vault_store.show_vault(store().home, name)
    _emit(printer, info, _describe(info))


@vault_app.command(name="list")
def vault_list(*, common: Common = DEFAULT) -> None:
    """List the vaults."""
    printer = common.printer()
    vaults = vault_store.list_vaults(store().home)
    printer.table(
        title="Vaults",
        columns=["Name", "Path", "Identities"],
        rows=[[v.name, v.path, ", ".join(v.identities)] for v in vaults],
        data=to_builtins(vaults),
        plain_rows=[v.name for v in vaults],
        empty="No vaults yet: `ockam vault create` makes one.",
    )


@vault_app.command(name="delete")
def vault_delete(name: str, /, *, yes: YesOption = False, common: Common = DEFAULT) -> None:
    """Delete a vault and every key in it, for good.

    Parameters
    ----------
    name
        The vault; one holding a node's identity is refused.
    """
    printer = common.printer()
    state = store()
    info = vault_store.show_vault(state.home, name)
    vault_store.refuse_if_used(state, info.identities, f"vault {name!r}")
    held = f" and its identities {', '.join(info.identities)}" if info.identities else ""
    confirm(f"Delete vault {name}{held}?", yes=yes)
    vault_store.delete_vault(state.home, name)
    _emit(printer, info, f"[green]✔︎[/green] Vault {name} deleted")


@vault_app.command(name="move")
def vault_move(name: str, /, *, path: str, common: Common = DEFAULT) -> None:
    """Move a vault's file; its name and keys stay.

    Parameters
    ----------
    name
        The vault.
    path
        Its new file (which must not exist yet).
    """
    printer = common.printer()
    info = vault_store.move_vault(store().home, name, path)
    _emit(printer, info, f"[green]✔︎[/green] Moved the vault {name} to {info.path}")
