"""The CLI's vaults and identities: `$OCKAM_HOME/vaults/NAME/vault.json`, one `secure.Vault` each.

Every node uses the default vault (`vaults/default/vault.json`). A node's identity is the one
named by `node create --identity NAME`, or else the one named after the node; either is created
on the node's first start and reused afterwards, so a restarted node keeps its identifier. The
Noise static key of a node's secure channels is kept in the same vault under the identity's name.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from actors import OckamError
from secure import Identity, Vault, VaultError

DEFAULT_VAULT = "default"
"""The vault every node uses, and the identity commands' default."""

DEFAULT_IDENTITY = "default"
"""The identity `identity show` shows when no name is given."""

VAULT_FILE = "vault.json"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


class IdentityStoreError(OckamError):
    """A vault or identity cannot be created, found or read; the message says which and why."""


class IdentityInfo(msgspec.Struct, frozen=True):
    """An identity as `identity show` and `identity list` print it."""

    name: str
    identifier: str
    vault: str


class VaultInfo(msgspec.Struct, frozen=True):
    """A vault as `vault create` and `vault list` print it."""

    name: str
    path: str


def _check_name(kind: str, name: str) -> str:
    if not _NAME.match(name):
        raise IdentityStoreError(
            f"invalid {kind} name {name!r}: use 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    return name


def vaults_dir(home: Path) -> Path:
    """The folder that holds one folder per vault."""
    return home / "vaults"


def vault_path(home: Path, name: str = DEFAULT_VAULT) -> Path:
    """The file of vault `name`."""
    return vaults_dir(home) / _check_name("vault", name) / VAULT_FILE


def open_vault(home: Path, name: str = DEFAULT_VAULT, *, create: bool = False) -> Vault:
    """Vault `name`. The default vault is created on first use; others only with `create`.

    Raises:
        IdentityStoreError: The vault does not exist, or cannot be read or created.
    """
    path = vault_path(home, name)
    if not path.exists() and not create and name != DEFAULT_VAULT:
        raise IdentityStoreError(
            f"there is no vault named {name!r} (create it with `ockam vault create {name}`)"
        )
    try:
        return Vault.open(path)
    except VaultError as exc:
        raise IdentityStoreError(str(exc)) from None


def create_vault(home: Path, name: str) -> VaultInfo:
    """Create vault `name`.

    Raises:
        IdentityStoreError: It exists already, or cannot be created.
    """
    path = vault_path(home, name)
    if path.exists():
        raise IdentityStoreError(f"vault {name!r} already exists at {path}")
    vault = open_vault(home, name, create=True)
    return VaultInfo(name=name, path=str(vault.path))


def list_vaults(home: Path) -> list[VaultInfo]:
    """Every vault, by name."""
    folder = vaults_dir(home)
    if not folder.is_dir():
        return []
    return [
        VaultInfo(name=entry.name, path=str(entry / VAULT_FILE))
        for entry in sorted(folder.iterdir())
        if (entry / VAULT_FILE).is_file()
    ]


def create_identity(home: Path, name: str, *, vault: str = DEFAULT_VAULT) -> IdentityInfo:
    """Create identity `name` in `vault`.

    Raises:
        IdentityStoreError: An identity of that name exists, or the vault cannot be written.
    """
    _check_name("identity", name)
    store = open_vault(home, vault)
    if name in _list(store):
        raise IdentityStoreError(
            f"identity {name!r} already exists in vault {vault!r} "
            f"(see it with `ockam identity show {name}`)"
        )
    try:
        identity = store.create_identity(name)
    except VaultError as exc:
        raise IdentityStoreError(str(exc)) from None
    return IdentityInfo(name=name, identifier=identity.identifier, vault=vault)


def get_identity(home: Path, name: str, *, vault: str = DEFAULT_VAULT) -> Identity:
    """Identity `name` from `vault`.

    Raises:
        IdentityStoreError: There is no such identity, or the vault cannot be read.
    """
    _check_name("identity", name)
    store = open_vault(home, vault)
    if name not in _list(store):
        raise IdentityStoreError(
            f"there is no identity named {name!r} in vault {vault!r} "
            f"(create it with `ockam identity create {name}`)"
        )
    try:
        return store.get_identity(name)
    except VaultError as exc:
        raise IdentityStoreError(str(exc)) from None


def show_identity(home: Path, name: str, *, vault: str = DEFAULT_VAULT) -> IdentityInfo:
    """Identity `name` as `identity show` prints it."""
    identity = get_identity(home, name, vault=vault)
    return IdentityInfo(name=name, identifier=identity.identifier, vault=vault)


def list_identities(home: Path, *, vault: str = DEFAULT_VAULT) -> list[IdentityInfo]:
    """Every identity in `vault`, by name."""
    store = open_vault(home, vault)
    try:
        return [
            IdentityInfo(name=name, identifier=store.get_identity(name).identifier, vault=vault)
            for name in _list(store)
        ]
    except VaultError as exc:
        raise IdentityStoreError(str(exc)) from None


def get_or_create_identity(
    home: Path, name: str, *, vault: str = DEFAULT_VAULT
) -> tuple[Identity, bytes]:
    """Identity `name` and its Noise static private key, both created on first use.

    Safe when several processes (nodes started at once with the same `--identity`) race to
    create the same identity: one creates it, the others load it.

    Raises:
        IdentityStoreError: The vault cannot be read or written.
    """
    _check_name("identity", name)
    store = open_vault(home, vault)
    try:
        if name not in _list(store):
            try:
                store.create_identity(name)
            except VaultError:
                if name not in _list(store):  # not a lost race: a real failure
                    raise
        return store.get_identity(name), store.get_or_create_static_key(name)
    except VaultError as exc:
        raise IdentityStoreError(str(exc)) from None


def _list(store: Vault) -> list[str]:
    try:
        return store.list_identities()
    except VaultError as exc:
        raise IdentityStoreError(str(exc)) from None
