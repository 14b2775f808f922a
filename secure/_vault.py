"""A file vault: a node's named secret keys, in one JSON file only its owner can read.

The file holds Ed25519 identity private keys and X25519 Noise static private keys, raw 32 bytes
each (base64 in the JSON), under names. It is created with mode 0600, in a directory created with
mode 0700 when the vault creates it (an existing directory keeps its mode). Every change rewrites
the whole file atomically: a new file (mode 0600) in the same directory, flushed to disk, then
renamed over the old one, so a crash leaves either the old vault or the new one, never half of
one. Changes from several processes are serialized by an exclusive lock on a sidecar
``<name>.lock`` file, and every operation reads the file afresh, so processes sharing a vault
see each other's keys. A vault file readable or writable by group or others is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ._identity import Identity

VAULT_FORMAT_VERSION = 1
"""The ``version`` field written into new vault files."""

_KEY_LEN = 32
_FILE_MODE = 0o600
_DIR_MODE = 0o700


class VaultError(Exception):
    """The vault cannot be read or written, or holds (or lacks) the named key."""


class _VaultFile(msgspec.Struct, forbid_unknown_fields=True):
    version: int = VAULT_FORMAT_VERSION
    identities: dict[str, bytes] = msgspec.field(default_factory=dict)
    static_keys: dict[str, bytes] = msgspec.field(default_factory=dict)


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_VaultFile)


def _check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not name or not name.isprintable():
        raise ValueError(f"{kind} name must be a non-empty printable string, got {name!r}")
    return name


class Vault:
    """Named secret keys in a file; see the module documentation for the guarantees.

    Opening creates the file (and its directory) if missing. `Vault.open` is the usual spelling.

    Args:
        path: The vault file, e.g. ``$OCKAM_HOME/nodes/n1/vault.json``.

    Raises:
        VaultError: The file cannot be created or read, is not a vault, or is accessible to
            other users.
    """

    __slots__ = ("_lock_path", "_path")

    def __init__(self, path: Path | str) -> None:
        self._path = Path(path).absolute()
        self._lock_path = self._path.with_name(self._path.name + ".lock")
        self._make_directory()
        with self._locked():
            if not self._path.exists():
                self._save(_VaultFile())
            self._load()  # fail now on a bad file, not at first use

    @classmethod
    def open(cls, path: Path | str) -> Vault:
        """Open the vault at `path`, creating it if it does not exist.

        Raises:
            VaultError: The file cannot be created or read, is not a vault, or is accessible
                to other users.
        """
        return cls(path)

    def __repr__(self) -> str:
        return f"Vault({str(self._path)!r})"

    @property
    def path(self) -> Path:
        """The vault file."""
        return self._path

    def create_identity(self, name: str) -> Identity:
        """Generate an identity and store it under `name`.

        Raises:
            VaultError: An identity with that name exists, or the vault cannot be written.
            ValueError: The name is empty.
        """
        _check_name("identity", name)
        with self._locked():
            data = self._load()
            if name in data.identities:
                raise VaultError(
                    f"identity {name!r} already exists in vault {self._path}: "
                    "use get_identity() to load it, or pick another name"
                )
            identity = Identity.generate()
            data.identities[name] = identity.private_bytes()
            self._save(data)
        return identity

    def get_identity(self, name: str) -> Identity:
        """Load the identity stored under `name`.

        Raises:
            VaultError: No identity has that name, or the vault cannot be read.
        """
        _check_name("identity", name)
        with self._locked():
            data = self._load()
        try:
            raw = data.identities[name]
        except KeyError:
            known = ", ".join(repr(n) for n in sorted(data.identities)) or "none"
            raise VaultError(
                f"no identity {name!r} in vault {self._path} (identities there: {known}); "
                "create it with create_identity()"
            ) from None
        return Identity.from_private_bytes(raw)

    def delete_identity(self, name: str) -> bool:
        """Forget the identity stored under `name`, and the static key of the same name.

        Returns:
            False when there was no such identity.

        Raises:
            VaultError: The vault cannot be read or written.
        """
        _check_name("identity", name)
        with self._locked():
            data = self._load()
            if data.identities.pop(name, None) is None:
                return False
            data.static_keys.pop(name, None)
            self._save(data)
        return True

    def list_identities(self) -> list[str]:
        """The names of the stored identities, sorted."""
        with self._locked():
            return sorted(self._load().identities)

    def get_or_create_static_key(self, name: str) -> bytes:
        """The X25519 static private key stored under `name`, generated on first use.

        Returns:
            The raw 32-byte private key, for `HandshakeState(static_private=...)`.

        Raises:
            VaultError: The vault cannot be read or written.
            ValueError: The name is empty.
        """
        _check_name("static key", name)
        with self._locked():
            data = self._load()
            key = data.static_keys.get(name)
            if key is None:
                key = X25519PrivateKey.generate().private_bytes_raw()
                data.static_keys[name] = key
                self._save(data)
        return key

    def _make_directory(self) -> None:
        directory = self._path.parent
        if directory.is_dir():
            return
        try:
            directory.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
            os.chmod(directory, _DIR_MODE)  # mkdir's mode is filtered by the umask
        except OSError as exc:
            raise VaultError(
                f"cannot create the vault directory {directory}: {exc.strerror or exc}"
            ) from exc

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE)
        except OSError as exc:
            raise VaultError(
                f"cannot open the vault lock file {self._lock_path}: {exc.strerror or exc}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _load(self) -> _VaultFile:
        path = self._path
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError as exc:
            raise VaultError(f"cannot open vault {path}: {exc.strerror or exc}") from exc
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise VaultError(f"vault {path} is not a regular file")
            mode = stat.S_IMODE(info.st_mode)
            if mode & 0o077:
                raise VaultError(
                    f"vault {path} has mode {mode:04o}, so other users may read its secret "
                    f"keys; restrict it with `chmod 600 {path}` if the keys are still "
                    "trusted, or delete it"
                )
            content = file.read()
        try:
            data = _decoder.decode(content)
        except msgspec.DecodeError as exc:
            raise VaultError(f"vault {path} is corrupt or not a vault file: {exc}") from None
        if data.version != VAULT_FORMAT_VERSION:
            raise VaultError(
                f"vault {path} has format version {data.version}; this program reads "
                f"version {VAULT_FORMAT_VERSION}"
            )
        for kind, table in (("identity", data.identities), ("static key", data.static_keys)):
            for name, key in table.items():
                if len(key) != _KEY_LEN:
                    raise VaultError(
                        f"vault {path} is corrupt: {kind} {name!r} is {len(key)} bytes, "
                        f"expected {_KEY_LEN}"
                    )
        return data

    def _save(self, data: _VaultFile) -> None:
        path = self._path
        content = _encoder.encode(data)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(
                temporary,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                _FILE_MODE,
            )
            try:
                with os.fdopen(fd, "wb") as file:
                    os.fchmod(file.fileno(), _FILE_MODE)  # the umask may have removed bits
                    file.write(content)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temporary, path)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
            directory_fd = os.open(path.parent, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(directory_fd)  # make the rename itself durable
            finally:
                os.close(directory_fd)
        except OSError as exc:
            raise VaultError(f"cannot write vault {path}: {exc.strerror or exc}") from exc
