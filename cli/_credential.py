"""Credentials: `ockam credential issue/verify/store/list/show`, and the node's side of them.

`issue` signs a credential with an identity of this machine (the authority's); `verify` checks
one against an issuer's identifier; `store --at NODE` gives one to a running node that trusts
its issuer (`node create --authority-identity`), which presents it in its secure channels from
then on, and records it in the state database (`cli._credential_store`); `list` and `show`
print the stored ones, or the credential a node presents now.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from cyclopts import Parameter

from actors import OckamError
from secure import DEFAULT_CREDENTIAL_SCOPE, Credential, SecureChannelError, issue_credential

from ._app import DEFAULT, Common, NodeOption, ask_node, command_group, store, to_builtins
from ._control import Request
from ._controller import NodeController
from ._credential_store import (
    CredentialRefused,
    CredentialView,
    StoredCredential,
    check,
    describe,
    get_credential,
    parse_attributes,
    parse_credential,
    parse_duration,
    parse_identifier,
    put_credential,
    stored_credentials,
    view,
)
from ._feature import Feature
from ._identity_store import default_identity, get_identity
from ._node_trust import start_trust
from ._routes import node_name

credential_app = command_group(
    "credential", "Issue, verify and store credentials: attributes an authority signs."
)
FEATURE = Feature("credential", commands=[credential_app], setup=[start_trust])

DEFAULT_TTL = "30d"
"""How long an issued credential is valid unless `--ttl` says otherwise (Ockam's 30 days)."""


class StoreCredential(Request, frozen=True, tag="credential-store"):
    """Make `credential` (hex) the node's own: it must be `issuer`'s, a trusted authority."""

    credential: str
    issuer: str
    scope: str | None = None


class GetCredential(Request, frozen=True, tag="credential-get"):
    """The credential the node presents now."""


class NodeCredential(msgspec.Struct, frozen=True):
    """The node's current credential in hex; empty when it has none (or trusts no one)."""

    credential: str = ""
    trusts: list[str] = []
    """The identifiers of the authorities it trusts (empty: none)."""


def _not_trusting(c: NodeController) -> OckamError:
    name = c.node.name
    return OckamError(
        f"node {name} trusts no authority: create it with "
        f"`ockam node create {name} --authority-identity HEX`"
    )


@FEATURE.handles(StoreCredential)
async def _store(c: NodeController, r: StoreCredential) -> CredentialView:
    channels = c.secure
    trust = None if channels is None else channels.trust
    if channels is None or trust is None:
        raise _not_trusting(c)
    if r.issuer not in trust.authorities:
        raise CredentialRefused(
            f"node {c.node.name} does not trust the issuer {r.issuer} "
            f"(it trusts {', '.join(sorted(trust.authorities))})"
        )
    if r.scope is not None and r.scope != trust.scope:
        raise CredentialRefused(
            f"node {c.node.name} requires credentials of scope {trust.scope!r}, not {r.scope!r}"
        )
    credential = parse_credential(r.credential)
    subject = credential.unverified_data().subject
    if subject != channels.identifier:
        raise CredentialRefused(
            f"the credential is for {subject}, not for node {c.node.name}'s identity "
            f"{channels.identifier}"
        )
    try:
        await channels.present_credential(credential)
    except SecureChannelError as exc:
        raise CredentialRefused(f"node {c.node.name} {exc}") from None
    return view(credential, node=c.node.name)


@FEATURE.handles(GetCredential)
async def _get(c: NodeController, _: GetCredential) -> NodeCredential:
    trust = None if c.secure is None else c.secure.trust
    if trust is None:
        return NodeCredential()
    credential = trust.credential
    return NodeCredential(
        credential="" if credential is None else credential.hex(),
        trusts=sorted(trust.authorities),
    )


def _read(credential: str | None, credential_path: str | None) -> str:
    if (credential is None) == (credential_path is None):
        raise ValueError("give the credential with --credential HEX or --credential-path FILE")
    if credential is not None:
        return credential
    assert credential_path is not None
    try:
        return Path(credential_path).read_text().strip()
    except OSError as exc:
        raise OckamError(f"cannot read the credential file {credential_path!r}: {exc}") from None


def _checked(
    issuer: str, credential: str | None, credential_path: str | None, *, scope: str | None = None
) -> tuple[str, Credential]:
    """The --issuer identifier and the given credential, checked against it now (and `scope`).

    Raises:
        CredentialRefused: The credential is not valid from that issuer (see `check`).
    """
    trusted = parse_identifier(issuer, "--issuer")
    parsed = parse_credential(_read(credential, credential_path))
    check(parsed, issuer=trusted, now=time.time(), scope=scope)
    return trusted, parsed


CredentialOption = Annotated[
    str | None, Parameter(help="The credential, in hex (what `credential issue` prints).")
]
CredentialPathOption = Annotated[
    str | None, Parameter(help="A file holding the credential in hex.")
]
AttributeOption = Annotated[list[str] | None, Parameter(name=["--attribute", "-a"], negative="")]
IssuerOption = Annotated[
    str,
    Parameter(help="The issuer's identifier (I…), or its exported identity in hex."),
]


@credential_app.command(name="issue")
def credential_issue(
    *,
    for_: Annotated[
        str,
        Parameter(
            name="--for",
            help="The subject: its identifier (I…), or its exported identity in hex.",
        ),
    ],
    as_: Annotated[
        str | None,
        Parameter(name="--as", help="The issuing identity's name (default: the default identity)."),
    ] = None,
    attribute: AttributeOption = None,
    ttl: str = DEFAULT_TTL,
    scope: str = DEFAULT_CREDENTIAL_SCOPE,
    encoding: Literal["plain", "hex"] = "plain",
    vault: str | None = None,
    common: Common = DEFAULT,
) -> None:
    """Issue a credential: the identity --as signs that --for has the attributes, for --ttl.

    Parameters
    ----------
    attribute
        NAME=VALUE; may be repeated.
    ttl
        How long it is valid: 5s, 10m, 2h, 30d, or a number of seconds.
    scope
        What it is for; a node checks it against its --credential-scope.
    encoding
        plain (readable) or hex (what `credential verify/store --credential` take).
    vault
        The vault holding the issuing identity (default: whichever does).
    """
    printer = common.printer()
    subject = parse_identifier(for_, "--for")
    attributes = parse_attributes(attribute or [])
    seconds = parse_duration(ttl)
    home = store().home
    issuer = get_identity(home, as_ or default_identity(home), vault=vault)
    try:
        credential = issue_credential(
            issuer, subject, attributes, ttl=seconds, now=time.time(), scope=scope
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot issue the credential: {exc}") from None
    shown = view(credential)
    text = credential.hex() if encoding == "hex" else describe(shown)
    printer.emit(plain=text, data=to_builtins(shown))


class Verified(msgspec.Struct, frozen=True):
    """`credential verify --output json` (Ockam's `is_valid`, and what was verified)."""

    is_valid: bool
    subject: str
    issuer: str
    scope: str
    attributes: dict[str, str]
    expires_at: int


@credential_app.command(name="verify")
def credential_verify(
    *,
    issuer: IssuerOption,
    credential: CredentialOption = None,
    credential_path: CredentialPathOption = None,
    common: Common = DEFAULT,
) -> None:
    """Verify a credential: issued by --issuer, unaltered, and not expired (exit 1 if not)."""
    printer = common.printer()
    trusted, parsed = _checked(issuer, credential, credential_path)
    data = parsed.unverified_data()  # verified just now
    printer.emit(
        plain="true",
        data=to_builtins(
            Verified(
                is_valid=True,
                subject=data.subject,
                issuer=trusted,
                scope=data.scope,
                attributes=dict(data.attributes),
                expires_at=data.expires,
            )
        ),
        pretty=f"[green]✔︎[/green] Credential is valid: issued by {trusted} for {data.subject}",
    )


@credential_app.command(name="store")
def credential_store(
    name: Annotated[
        str | None,
        Parameter(
            help="The name it is stored under (default: the node's name; storing again "
            "replaces it)."
        ),
    ] = None,
    /,
    *,
    issuer: IssuerOption,
    credential: CredentialOption = None,
    credential_path: CredentialPathOption = None,
    scope: Annotated[str | None, Parameter(help="The scope it must have been issued for.")] = None,
    at: NodeOption = None,
    common: Common = DEFAULT,
) -> None:
    """Store a credential at a node that trusts its issuer: the node presents it from now on."""
    printer = common.printer()
    trusted, parsed = _checked(issuer, credential, credential_path, scope=scope)
    request = StoreCredential(parsed.hex(), trusted, scope)
    record, shown = ask_node(at, request, CredentialView)
    row = StoredCredential(
        name=name or record.name,
        node=record.name,
        issuer=trusted,
        scope=shown.scope,
        credential=parsed.hex(),
        stored=time.time(),
    )
    put_credential(store().home, row)
    shown = msgspec.structs.replace(shown, name=row.name)
    printer.emit(
        plain=row.name,
        data=to_builtins(shown),
        pretty=f"[green]✔︎[/green] Credential {row.name} stored at node {record.name}",
    )


StoredAtOption = Annotated[
    str | None,
    Parameter(name=["--at", "--node"], help="Only the credentials stored at this node."),
]


@credential_app.command(name="list")
def credential_list(*, at: StoredAtOption = None, common: Common = DEFAULT) -> None:
    """List the stored credentials (all, or those of one node)."""
    printer = common.printer()
    node = None if at is None else node_name(at)
    rows = stored_credentials(store().home, node=node)
    views = [view(parse_credential(r.credential), name=r.name, node=r.node) for r in rows]
    printer.table(
        title="Credentials",
        columns=["Name", "Node", "Subject", "Issuer", "Attributes", "Valid"],
        rows=[
            [
                v.name,
                v.node,
                v.subject,
                v.issuer,
                ", ".join(f"{k}={x}" for k, x in v.attributes.items()),
                "yes" if v.is_verified else "no",
            ]
            for v in views
        ],
        data=to_builtins(views),
        plain_rows=[f"{v.name}  {v.node}  {v.subject}" for v in views],
        empty="No credentials stored: `ockam credential store --at NODE` stores one.",
    )


@credential_app.command(name="show")
def credential_show(
    name: Annotated[str | None, Parameter(help="A stored credential's name.")] = None,
    /,
    *,
    at: NodeOption = None,
    credential: CredentialOption = None,
    common: Common = DEFAULT,
) -> None:
    """Show a stored credential, a given one, or the one a node presents now (--at: when no
    name or --credential is given)."""
    printer = common.printer()
    if (name is not None) + (credential is not None) + (at is not None) > 1:
        raise ValueError("give one of NAME, --credential and --at")
    if name is not None:
        row = get_credential(store().home, name)
        shown = view(parse_credential(row.credential), name=row.name, node=row.node)
    elif credential is not None:
        shown = view(parse_credential(credential))
    else:
        record, current = ask_node(at, GetCredential(), NodeCredential)
        if not current.trusts:
            raise OckamError(f"node {record.name} trusts no authority, so it has no credential")
        if not current.credential:
            raise OckamError(
                f"node {record.name} has no credential: store one with "
                f"`ockam credential store --at {record.name} --issuer I… --credential HEX`"
            )
        shown = view(parse_credential(current.credential), node=record.name)
    printer.emit(plain=shown.credential, data=to_builtins(shown), pretty=describe(shown))
