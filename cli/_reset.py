"""`ockam reset`: stop every node and remove all local state (nodes, identities, vaults, the
state database), as Ockam's `reset` removes its local configuration."""

from __future__ import annotations

import contextlib
import shutil
import sys
from pathlib import Path

from cyclopts import App

from actors import OckamError

from ._app import DEFAULT, Common, YesOption, run, store
from ._feature import Feature
from ._identity_store import IdentityStoreError, delete_vault, list_vaults, vaults_dir
from ._lifecycle import delete_nodes

reset_app = App(
    name="reset",
    help="Removes the local Ockam configuration including all Identities and Nodes.",
)
FEATURE = Feature("reset", commands=[reset_app])


class NotConfirmed(OckamError):
    """`ockam reset` without `--yes` where nobody can be asked."""


@reset_app.default
def reset(*, yes: YesOption = False, common: Common = DEFAULT) -> None:
    """Stop every node and remove all local state: nodes, identities, vaults and the state
    database (everything in $OCKAM_HOME).

    Parameters
    ----------
    yes
        Confirm the reset without prompting.
    """
    printer = common.printer()
    if not yes:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise NotConfirmed("Use --yes to confirm: `ockam reset --yes` deletes all local state")
        answer = input("This will delete the local Ockam configuration. Are you sure? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            return
    state = store()
    if state.database.exists():
        run(lambda: delete_nodes(state, state.all()))
    # Vaults moved out of $OCKAM_HOME (`vault create --path`, `vault move`) go too.
    with contextlib.suppress(IdentityStoreError, OSError):
        for vault in list_vaults(state.home) if vaults_dir(state.home).is_dir() else []:
            delete_vault(state.home, vault.name)
    _empty(state.home)
    printer.emit(
        plain="Local Ockam configuration deleted",
        data={"reset": True, "home": str(state.home)},
        pretty="[green]✔︎[/green] Local Ockam configuration deleted",
    )


def _empty(home: Path) -> None:
    """Remove everything in `home`; the folder itself stays (it may be a mount point)."""
    if not home.is_dir():
        return
    for entry in home.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
