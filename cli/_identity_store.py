"""The CLI's vaults and identities: `$OCKAM_HOME/vaults/NAME/vault.json`, one `secure.Vault` each.

A vault lives in `vaults/NAME/vault.json`, or, made with `--path` or moved, wherever the file
`vaults/NAME/location` says. Identity names are unique across vaults, so an identity is found
by its name alone. A node's identity is the one named by `node create --identity NAME`, or else
the one named after the node; either is created (in the default vault, when no vault holds it)
on the node's first start and reused afterwards, so a restarted node keeps its identifier. The
Noise static key of a node's secure channels is kept in the same vault under the identity's name.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import msgspec

from actors import OckamError
from secure import Identity, Vault, VaultError

from ._state import StateStore

DEFAULT_VAULT = "default"
"""The vault every node uses, and the identity commands' default."""

DEFAULT_IDENTITY = "default"
"""The default identity's name until `identity default NAME` names another."""

VAULT_FILE = "vault.json"
LOCATION_FILE = "location"
DEFAULT_IDENTITY_FILE = "default-identity"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


class IdentityStoreError(OckamError):
    """A vault or identity cannot be created, found or read; the message says which and why."""


class IdentityInfo(msgspec.Struct, frozen=True):
    """An identity as `identity show` and `identity list` print it."""

    name: str
    identifier: str
    vault: str
    is_default: bool = False


class VaultInfo(msgspec.Struct, frozen=True):
    """A vault as the `vault` commands print it (Ockam's `NamedVault`: name, path, default)."""

    name: str
    path: str
    is_default: bool = False
    identities: list[str] = []


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


def _location_file(home: Path, name: str) -> Path:
    # A vault created with --path, or moved, is elsewhere: its folder holds only this file,
    # the vault file's absolute path.
    return vaults_dir(home) / _check_name("vault", name) / LOCATION_FILE


def vault_path(home: Path, name: str = DEFAULT_VAULT) -> Path:
    """The file of vault `name` (`vaults/NAME/vault.json`, or where it was moved)."""
    location = _location_file(home, name)
    if location.is_file():
        return Path(location.read_text().strip())
    return location.parent / VAULT_FILE


def _vault_exists(home: Path, name: str) -> bool:
    return _location_file(home, name).is_file() or vault_path(home, name).is_file()


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


def _outside_file(path: str) -> Path:
    """Where a vault file given by the user (`--path`) goes; it must not exist yet."""
    target = Path(path).expanduser().absolute()
    if target.exists():
        raise IdentityStoreError(f"{target} already exists: choose a path for a new file")
    if not target.parent.is_dir():
        raise IdentityStoreError(f"cannot put a vault at {target}: {target.parent} is no folder")
    return target


def create_vault(home: Path, name: str, *, path: str | None = None) -> VaultInfo:
    """Create vault `name`, in its folder or at `path`.

    Raises:
        IdentityStoreError: It exists already, or cannot be created.
    """
    if _vault_exists(home, name):
        raise IdentityStoreError(f"vault {name!r} already exists at {vault_path(home, name)}")
    if path is not None:
        target = _outside_file(path)
        folder = vaults_dir(home) / name
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            Vault.open(target)
        except VaultError as exc:
            raise IdentityStoreError(str(exc)) from None
        _location_file(home, name).write_text(f"{target}\n")
    open_vault(home, name, create=True)
    return show_vault(home, name)


def list_vaults(home: Path) -> list[VaultInfo]:
    """Every vault, by name; the default one always (created on first use)."""
    open_vault(home, DEFAULT_VAULT)
    folder = vaults_dir(home)
    return [
        show_vault(home, entry.name)
        for entry in sorted(folder.iterdir())
        if _NAME.match(entry.name) and _vault_exists(home, entry.name)
    ]


def show_vault(home: Path, name: str) -> VaultInfo:
    """Vault `name` and the names of the identities it holds.

    Raises:
        IdentityStoreError: There is no such vault, or it cannot be read.
    """
    if not _vault_exists(home, name):
        raise IdentityStoreError(f"there is no vault named {name!r} (see `ockam vault list`)")
    vault = open_vault(home, name)
    return VaultInfo(
        name=name,
        path=str(vault.path),
        is_default=name == DEFAULT_VAULT,
        identities=_list(vault),
    )


def delete_vault(home: Path, name: str) -> VaultInfo:
    """Delete vault `name`: its file, with every key in it, and its folder.

    Raises:
        IdentityStoreError: There is no such vault.
    """
    info = show_vault(home, name)
    path = Path(info.path)
    for file in (path, path.with_name(path.name + ".lock")):
        file.unlink(missing_ok=True)
    shutil.rmtree(vaults_dir(home) / name, ignore_errors=True)
    if default_identity(home) in info.identities:
        _default_file(home).unlink(missing_ok=True)
    return info


def move_vault(home: Path, name: str, path: str) -> VaultInfo:
    """Move vault `name`'s file to `path` (a new file); its name and keys stay.

    Raises:
        IdentityStoreError: There is no such vault, or `path` exists or cannot be written.
    """
    source = Path(show_vault(home, name).path)
    target = _outside_file(path)
    try:
        shutil.move(source, target)
        os.chmod(target, 0o600)
    except OSError as exc:
        raise IdentityStoreError(f"cannot move vault {name!r} to {target}: {exc}") from None
    source.with_name(source.name + ".lock").unlink(missing_ok=True)
    _location_file(home, name).write_text(f"{target}\n")
    return show_vault(home, name)


def vault_of(home: Path, name: str) -> str | None:
    """The vault that holds identity `name`, if any (the default vault first)."""
    names = [v.name for v in list_vaults(home)]
    if DEFAULT_VAULT in names:
        names.remove(DEFAULT_VAULT)
    for vault in [DEFAULT_VAULT, *names]:
        if _vault_exists(home, vault) and name in _list(open_vault(home, vault)):
            return vault
    return None


def create_identity(home: Path, name: str, *, vault: str = DEFAULT_VAULT) -> IdentityInfo:
    """Create identity `name` in `vault`; names are unique across vaults.

    Raises:
        IdentityStoreError: An identity of that name exists, or the vault cannot be written.
    """
    _check_name("identity", name)
    store = open_vault(home, vault)
    holder = vault_of(home, name)
    if holder is not None:
        raise IdentityStoreError(
            f"identity {name!r} already exists in vault {holder!r} "
            f"(see it with `ockam identity show {name}`)"
        )
    try:
        identity = store.create_identity(name)
    except VaultError as exc:
        raise IdentityStoreError(str(exc)) from None
    return _info(home, name, identity, vault)


def _info(home: Path, name: str, identity: Identity, vault: str) -> IdentityInfo:
    return IdentityInfo(
        name=name,
        identifier=identity.identifier,
        vault=vault,
        is_default=name == default_identity(home),
    )


def _holder(home: Path, name: str, vault: str | None) -> str:
    _check_name("identity", name)
    holder = vault_of(home, name) if vault is None else vault
    if holder is None or name not in _list(open_vault(home, holder)):
        where = "" if vault is None else f" in vault {vault!r}"
        raise IdentityStoreError(
            f"there is no identity named {name!r}{where} "
            f"(create it with `ockam identity create {name}`)"
        )
    return holder


def get_identity(home: Path, name: str, *, vault: str | None = None) -> Identity:
    """Identity `name`, from `vault` or else from whichever vault holds it.

    Raises:
        IdentityStoreError: There is no such identity, or the vault cannot be read.
    """
    holder = _holder(home, name, vault)
    try:
        return open_vault(home, holder).get_identity(name)
    except VaultError as exc:
        raise IdentityStoreError(str(exc)) from None


def show_identity(home: Path, name: str, *, vault: str | None = None) -> IdentityInfo:
    """Identity `name` as `identity show` prints it."""
    holder = _holder(home, name, vault)
    return _info(home, name, get_identity(home, name, vault=holder), holder)


def list_identities(home: Path, *, vault: str | None = None) -> list[IdentityInfo]:
    """Every identity in `vault` (default: in every vault), by name."""
    vaults = [vault] if vault is not None else [v.name for v in list_vaults(home)]
    found = []
    for name in vaults:
        store = open_vault(home, name)
        try:
            found += [_info(home, i, store.get_identity(i), name) for i in _list(store)]
        except VaultError as exc:
            raise IdentityStoreError(str(exc)) from None
    return sorted(found, key=lambda i: i.name)


def delete_identity(home: Path, name: str, *, vault: str | None = None) -> IdentityInfo:
    """Delete identity `name` (its private key, and its Noise key) from the vault holding it.

    Raises:
        IdentityStoreError: There is no such identity.
    """
    info = show_identity(home, name, vault=vault)
    try:
        open_vault(home, info.vault).delete_identity(name)
    except VaultError as exc:
        raise IdentityStoreError(str(exc)) from None
    if info.is_default:
        _default_file(home).unlink(missing_ok=True)
    return info


def _default_file(home: Path) -> Path:
    return vaults_dir(home) / DEFAULT_IDENTITY_FILE


def default_identity(home: Path) -> str:
    """The name of the default identity (`identity default NAME` sets it; else `default`)."""
    try:
        return _default_file(home).read_text().strip() or DEFAULT_IDENTITY
    except FileNotFoundError:
        return DEFAULT_IDENTITY


def set_default_identity(home: Path, name: str) -> IdentityInfo:
    """Make identity `name` the default one.

    Raises:
        IdentityStoreError: There is no such identity.
    """
    show_identity(home, name)
    _default_file(home).write_text(f"{name}\n")
    return show_identity(home, name)


def get_or_create_identity(
    home: Path, name: str, *, vault: str | None = None
) -> tuple[Identity, bytes]:
    """Identity `name` and its Noise static private key, both created on first use (in `vault`,
    default: the default vault, when no vault holds one of that name).

    Safe when several processes (nodes started at once with the same `--identity`) race to
    create the same identity: one creates it, the others load it.

    Raises:
        IdentityStoreError: The vault cannot be read or written.
    """
    _check_name("identity", name)
    holder = vault if vault is not None else (vault_of(home, name) or DEFAULT_VAULT)
    store = open_vault(home, holder)
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


def refuse_if_used(state: StateStore, identities: list[str], what: str) -> None:
    """Refuse to delete `what` while a node uses one of `identities` (named by `--identity`,
    or after the node).

    Raises:
        IdentityStoreError: A node uses one of them.
    """
    users = [r.name for r in state.all() if (r.identity or r.name) in identities]
    if users:
        raise IdentityStoreError(
            f"{what} is used by node {', '.join(users)}: delete the node first "
            f"(`ockam node delete {users[0]}`)"
        )


def _list(store: Vault) -> list[str]:
    try:
        return store.list_identities()
    except VaultError as exc:
        raise IdentityStoreError(str(exc)) from None
