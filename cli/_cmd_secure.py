"""`ockam secure-channel ...`, `secure-channel-listener ...`, `identity ...` and `vault ...`."""

from __future__ import annotations

import secrets
from typing import Annotated

from cyclopts import Parameter

from secure import SecureChannelInfo, SecureChannelListenerInfo, check_identifier

from ._app import (
    DEFAULT,
    Common,
    NodeOption,
    ask,
    ask_node,
    resolved,
    run,
    store,
    sub_app,
    target_node,
    to_builtins,
)
from ._control import Empty
from ._identity_store import (
    DEFAULT_IDENTITY,
    DEFAULT_VAULT,
    IdentityInfo,
    create_identity,
    create_vault,
    get_or_create_identity,
    list_identities,
    list_vaults,
    show_identity,
)
from ._output import Printer
from ._secure_control import (
    CreateSecureChannel,
    CreateSecureChannelListener,
    DeleteSecureChannel,
    DeleteSecureChannelListener,
    ListSecureChannelListeners,
    ListSecureChannels,
    ShowSecureChannel,
)

channel_app = sub_app("secure-channel", "Create and manage end-to-end encrypted secure channels.")
listener_app = sub_app("secure-channel-listener", "Manage the listeners that accept channels.")
identity_app = sub_app("identity", "Create and inspect identities (Ed25519 keys in a vault).")
vault_app = sub_app("vault", "Create and list vaults, the files that keep secret keys.")

At = NodeOption
Authorized = Annotated[
    list[str] | None,
    Parameter(help="An identifier (I…) the other end must have; repeat to allow several."),
]
Vault = Annotated[str, Parameter(help="The vault that holds the identities.")]


def _authorized(values: list[str] | None) -> list[str]:
    return [check_identifier(v) for v in values or []]


# --- secure-channel -----------------------------------------------------------------------------


@channel_app.command(name="create")
def channel_create(
    *,
    to: str,
    from_: Annotated[str | None, Parameter(name="--from")] = None,
    authorized: Authorized = None,
    timeout: float = 10.0,
    common: Common = DEFAULT,
) -> None:
    """Open a secure channel from a node to a listener; prints the channel's address.

    Send into the channel with a route that starts with that address, e.g.
    `ockam message send hi --from n1 --to /service/<address>/service/uppercase`.

    Parameters
    ----------
    to
        The route to the listener, like /node/n2/service/api or
        /node/relay/service/forward_to_n2/service/api; a '-' segment is replaced by the route
        piped on standard input.
    from_
        The node the channel starts from (n1 or /node/n1; default: the oldest node).
    timeout
        Seconds to wait for the other end.
    """
    printer = common.printer()
    state = store()
    allowed = _authorized(authorized)
    record = target_node(state, from_)
    route = resolved(state, to)
    request = CreateSecureChannel(route, allowed, timeout)
    info = run(lambda: ask(state, record, request, SecureChannelInfo))
    printer.emit(
        plain=info.address,
        data=to_builtins(info),
        pretty=(
            "[green]✔︎[/green] Secure channel created\n"
            f"  From: /node/{record.name} ({info.identifier})\n"
            f"    To: {to} ({info.remote_identifier})\n"
            f"    At: {info.address}"
        ),
    )


@channel_app.command(name="list")
def channel_list(*, at: At = None, common: Common = DEFAULT) -> None:
    """List the secure channels of a node (both the ones it opened and the ones it accepted)."""
    printer = common.printer()
    record, channels = ask_node(at, ListSecureChannels(), list[SecureChannelInfo])
    printer.table(
        title="Secure channels",
        columns=["Address", "Role", "Route", "Remote identifier"],
        rows=[[c.address, c.role, c.route, c.remote_identifier] for c in channels],
        data=to_builtins(channels),
        plain_rows=[c.address for c in channels],
        empty=f"No secure channels on node {record.name}.",
    )


@channel_app.command(name="show")
def channel_show(address: str, /, *, at: At = None, common: Common = DEFAULT) -> None:
    """Show one secure channel of a node.

    Parameters
    ----------
    address
        The channel's address, like /service/<hex>.
    """
    printer = common.printer()
    record, info = ask_node(at, ShowSecureChannel(address), SecureChannelInfo)
    authorized = ", ".join(info.authorized) or "any identity"
    printer.emit(
        plain=info.address,
        data=to_builtins(info),
        pretty=(
            f"Secure channel {info.address} ({info.role}) on node {record.name}\n"
            f"  route: {info.route}\n"
            f"  identifier: {info.identifier}\n"
            f"  remote identifier: {info.remote_identifier}\n"
            f"  authorized: {authorized}"
        ),
    )


@channel_app.command(name="delete")
def channel_delete(address: str, /, *, at: At = None, common: Common = DEFAULT) -> None:
    """Close a secure channel; its other end closes too.

    Parameters
    ----------
    address
        The channel's address, like /service/<hex>.
    """
    printer = common.printer()
    record, _ = ask_node(at, DeleteSecureChannel(address), Empty)
    printer.emit(
        plain=address,
        data={"deleted": address, "node": record.name},
        pretty=f"[green]✔︎[/green] Deleted secure channel {address} on node {record.name}",
    )


# --- secure-channel-listener --------------------------------------------------------------------


@listener_app.command(name="create")
def listener_create(
    address: str,
    /,
    *,
    at: At = None,
    authorized: Authorized = None,
    common: Common = DEFAULT,
) -> None:
    """Start a secure channel listener on a node; prints its address.

    Parameters
    ----------
    address
        The listener's local address, like my_listener (or /service/my_listener).
    """
    printer = common.printer()
    state = store()
    allowed = _authorized(authorized)
    record = target_node(state, at)
    request = CreateSecureChannelListener(address.removeprefix("/service/"), allowed)
    info = run(lambda: ask(state, record, request, SecureChannelListenerInfo))
    printer.emit(
        plain=info.address,
        data=to_builtins(info),
        pretty=f"[green]✔︎[/green] Secure channel listener at {info.address} on node {record.name}",
    )


@listener_app.command(name="list")
def listener_list(*, at: At = None, common: Common = DEFAULT) -> None:
    """List the secure channel listeners of a node."""
    printer = common.printer()
    record, listeners = ask_node(at, ListSecureChannelListeners(), list[SecureChannelListenerInfo])
    printer.table(
        title="Secure channel listeners",
        columns=["Address", "Identifier", "Authorized"],
        rows=[[x.address, x.identifier, ", ".join(x.authorized) or "any"] for x in listeners],
        data=to_builtins(listeners),
        plain_rows=[x.address for x in listeners],
        empty=f"No secure channel listeners on node {record.name}.",
    )


@listener_app.command(name="delete")
def listener_delete(address: str, /, *, at: At = None, common: Common = DEFAULT) -> None:
    """Stop a secure channel listener; the channels it accepted stay open.

    Parameters
    ----------
    address
        The listener's address, like my_listener or /service/my_listener.
    """
    printer = common.printer()
    record, _ = ask_node(at, DeleteSecureChannelListener(address), Empty)
    printer.emit(plain=address, data={"deleted": address, "node": record.name})


# --- identity -----------------------------------------------------------------------------------


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


# --- vault --------------------------------------------------------------------------------------


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
