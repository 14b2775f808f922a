"""Secure channels as actors: a listener, one worker per channel end, and a per-node registry.

A channel is opened by `create_secure_channel` (or `SecureChannels.create`) along a route that
ends at a `SecureChannelListener` (by default at ``api``). Each end is one `SecureChannelWorker`
with two local addresses: the *plaintext* address (its primary one, ``/service/<hex>``), into
which local workers send messages that should cross the channel, and the *ciphertext* address
(an alias), which only the other end sends to. The worker tells the two apart by the address a
message was delivered to.

Wire protocol (payloads of routed messages, msgpack, one tagged union, integer tags)::

    initiator                         listener / responder
    Hello(XX message 1)      ->       listener at `api`; starts a responder worker
                             <-       Answer(XX message 2, responder's IdentityProof)
    Finish(XX message 3,     ->
      initiator's IdentityProof)
                             <-       Encrypted(Ready)       or Refuse(reason)
    Encrypted(Deliver | Close)  <->   Encrypted(Deliver | Close)

Every message after `Hello` is sent to the other end's ciphertext address along the return
route of the message before, so the connections and relays in between are passed through both
ways. The initiator's `create` returns only once the responder confirmed (`Ready`, encrypted, so
it cannot be forged), and fails at once on a `Refuse`: a refused initiator learns why instead of
waiting for a timeout. `Refuse` is the only message sent in clear after message 1; an
established channel ignores it, so nobody on the path can close a channel by forging one.

Inside `Encrypted` (a `ChannelEncryptor` frame), a `Deliver` carries a message's onward route
(without the channel), its return route and its payload; the receiving end routes it on with
its own plaintext address pushed onto the return route, so replies come back through the
channel. `Close` tells the other end to stop. A frame that fails to decrypt (tampered,
replayed, too old) is dropped and logged and the channel carries on.

A channel end also stops when the connection that carries it (the first hop of the route to
the other end) goes down, as relay workers do.
"""

from __future__ import annotations

import builtins
import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

import msgspec
import trio
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from actors import (
    TEMPORARY,
    Actor,
    Address,
    LocalMessage,
    OckamError,
    Route,
    RouteError,
    TransportError,
    local,
    random_address,
)

from ._identity import IDENTIFIER_PREFIX, Identity, IdentityError, IdentityProof, IdentityPublic
from ._noise import DecryptionError, HandshakeError, HandshakeState, NoiseError
from ._transport import ChannelDecryptor, ChannelEncryptor

if TYPE_CHECKING:
    from actors import Node

log = logging.getLogger("ockam.secure")

DEFAULT_LISTENER = "api"
"""The local address of the secure channel listener every CLI node runs."""

PROLOGUE = b"trio-ockam secure channel v1"
"""Noise prologue: both ends must agree on it, so a different protocol cannot be mixed in."""

HANDSHAKE_TIMEOUT = 10.0
"""Seconds a responder waits for the initiator's last handshake message before giving up."""

CLOSE_TIMEOUT = 1.0
"""Seconds a stopping channel end may spend telling the other end."""

_IDENTIFIER = re.compile(rf"^{IDENTIFIER_PREFIX}[0-9a-f]{{64}}$")

Role = Literal["initiator", "responder"]


class SecureChannelError(OckamError):
    """A secure channel could not be established, or was refused by the other end."""


# --- wire protocol ------------------------------------------------------------------------------


class Hello(msgspec.Struct, frozen=True, array_like=True, tag=0):
    """XX message 1, initiator to listener."""

    message: bytes


class Answer(msgspec.Struct, frozen=True, array_like=True, tag=1):
    """XX message 2, responder to initiator; its payload is the responder's `IdentityProof`."""

    message: bytes


class Finish(msgspec.Struct, frozen=True, array_like=True, tag=2):
    """XX message 3, initiator to responder; its payload is the initiator's `IdentityProof`."""

    message: bytes


class Encrypted(msgspec.Struct, frozen=True, array_like=True, tag=3):
    """A `ChannelEncryptor` frame holding one `InnerMessage`."""

    frame: bytes


class Refuse(msgspec.Struct, frozen=True, array_like=True, tag=4):
    """The handshake failed or the peer is not authorized; the reason is for the peer's user."""

    reason: str


ChannelMessage = Hello | Answer | Finish | Encrypted | Refuse


class Deliver(msgspec.Struct, frozen=True, array_like=True, tag=0):
    """A message crossing the channel: onward route past the channel, return route, payload."""

    onward: tuple[Address, ...]
    back: tuple[Address, ...]
    payload: bytes


class Ready(msgspec.Struct, frozen=True, array_like=True, tag=1):
    """The responder verified the initiator: the channel is open."""


class Close(msgspec.Struct, frozen=True, array_like=True, tag=2):
    """The sending end stopped; the receiving end stops too."""

    reason: str = ""


InnerMessage = Deliver | Ready | Close

_encoder = msgspec.msgpack.Encoder()
_outer_decoder: msgspec.msgpack.Decoder[ChannelMessage] = msgspec.msgpack.Decoder(ChannelMessage)
_inner_decoder: msgspec.msgpack.Decoder[InnerMessage] = msgspec.msgpack.Decoder(InnerMessage)


# --- info structs -------------------------------------------------------------------------------


class SecureChannelInfo(msgspec.Struct, frozen=True):
    """One end of a secure channel, as `secure-channel list` and `show` print it.

    Attributes:
        address: The plaintext address local workers send into, ``/service/<hex>``.
        route: The initiator: the route to the listener it was created with. The responder:
            the route back to the initiator's end.
        role: ``initiator`` or ``responder``.
        identifier: This end's identity.
        remote_identifier: The other end's identity, verified in the handshake.
        authorized: The identifiers this end accepted as the other end (empty: any).
        ciphertext_address: Where the other end sends encrypted frames, ``/service/<hex>``.
    """

    address: str
    route: str
    role: Role
    identifier: str
    remote_identifier: str
    authorized: list[str]
    ciphertext_address: str


class SecureChannelListenerInfo(msgspec.Struct, frozen=True):
    """A secure channel listener, as `secure-channel-listener list` prints it."""

    address: str
    identifier: str
    authorized: list[str]


# --- helpers ------------------------------------------------------------------------------------


def check_identifier(identifier: str) -> str:
    """`identifier` when it is one (``I`` then 64 hex digits); `ValueError` naming it if not."""
    if not isinstance(identifier, str) or not _IDENTIFIER.match(identifier):
        raise ValueError(
            f"invalid identifier {identifier!r}: expected {IDENTIFIER_PREFIX} followed by 64 "
            "lowercase hex digits, as `ockam identity show` prints it"
        )
    return identifier


def _authorized_set(authorized: Iterable[str]) -> frozenset[str]:
    if isinstance(authorized, str):
        raise TypeError("authorized must be an iterable of identifiers, not one string")
    return frozenset(check_identifier(i) for i in authorized)


def _local_value(address: str | Address) -> str:
    """The local address value in ``hex``, ``0#hex``, ``/service/hex`` or ``/worker/hex``."""
    if isinstance(address, Address):
        return address.value
    text = address.strip()
    for prefix in ("/service/", "/worker/", "0#"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    return text.rstrip("/")


def _as_route(route: Route | str) -> Route:
    return Route.parse(route) if isinstance(route, str) else route


def _encode(message: ChannelMessage | InnerMessage) -> bytes:
    return _encoder.encode(message)


# --- the channel end ----------------------------------------------------------------------------


class SecureChannelWorker(Actor):
    """One end of a secure channel: a plaintext address and a ciphertext address (an alias).

    Do not start one directly: `create_secure_channel` starts initiators and
    `SecureChannelListener` starts responders.

    Attributes:
        role: ``initiator`` or ``responder``.
        route: See `SecureChannelInfo.route`.
        authorized: Identifiers accepted as the other end (empty: any).
        remote_identity: The other end's verified identity, once known.
        established: Set once the channel carries messages.
        failure: Why the handshake failed, if it did.
        frames_sent, frames_received, frames_dropped: Encrypted frames counted at this end.
    """

    mailbox_size = 256

    def __init__(
        self,
        *,
        role: Role,
        identity: Identity,
        handshake: HandshakeState,
        route: Route,
        authorized: frozenset[str],
        listener: str = "",
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
    ) -> None:
        self.role: Role = role
        self.identity = identity
        self.route = route
        self.authorized = authorized
        self.listener = listener
        self.handshake_timeout = handshake_timeout
        self.remote_identity: IdentityPublic | None = None
        self.established = trio.Event()
        self.failure: SecureChannelError | None = None
        self.frames_sent = 0
        self.frames_received = 0
        self.frames_dropped = 0
        self._handshake: HandshakeState | None = handshake
        self._encryptor: ChannelEncryptor | None = None
        self._decryptor: ChannelDecryptor | None = None
        # Where frames for the other end go: the route to the listener until message 2 arrives
        # (initiator), then the return route of the other end's last handshake message.
        self._remote = route
        self._settled = trio.Event()
        self._stopped = trio.Event()
        self._notify_peer = True
        self._nursery: trio.Nursery | None = None

    # --- public ---------------------------------------------------------------------------

    @property
    def plaintext_address(self) -> Address:
        """Where local workers send messages that should cross the channel."""
        return self.ctx.addresses[0]

    @property
    def ciphertext_address(self) -> Address:
        """Where the other end sends encrypted frames."""
        return self.ctx.addresses[1]

    @property
    def stopped(self) -> trio.Event:
        """Set once this end has stopped."""
        return self._stopped

    def info(self) -> SecureChannelInfo:
        """This end, as `secure-channel show` prints it."""
        return SecureChannelInfo(
            address=f"/service/{self.plaintext_address.value}",
            route=str(self.route),
            role=self.role,
            identifier=self.identity.identifier,
            remote_identifier=self.remote_identity.identifier if self.remote_identity else "",
            authorized=sorted(self.authorized),
            ciphertext_address=f"/service/{self.ciphertext_address.value}",
        )

    async def wait_settled(self) -> None:
        """Return once the channel is established, or this end stopped without it."""
        await self._settled.wait()

    def close(self, reason: str = "closed") -> None:
        """Stop this end; the other end is told (`Close`) and stops too."""
        self._stop(reason, notify_peer=True)

    # --- actor ----------------------------------------------------------------------------

    async def on_start(self) -> None:
        handshake = self._require_handshake()
        if self.role == "initiator":
            first: ChannelMessage = Hello(handshake.write_message())
        else:
            proof = IdentityProof.create(self.identity, handshake.static_public)
            first = Answer(handshake.write_message(proof.encode()))
        if not await self._send_outer(first):
            raise SecureChannelError(
                f"cannot reach {self.route}: the first hop dropped the handshake "
                "(see the node's log for why)"
            )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                if self.role == "responder":
                    nursery.start_soon(self._handshake_deadline)
                await super().run(task_status=task_status)
        finally:
            self._settled.set()
            self._stopped.set()
            node_stopping = self.ctx.node.nursery.cancel_scope.cancel_called
            if self._notify_peer and self._encryptor is not None and not node_stopping:
                with trio.move_on_after(CLOSE_TIMEOUT) as scope:
                    scope.shield = True
                    await self._send_inner(Close("the other end closed the channel"))

    async def handle_message(self, message: LocalMessage) -> None:
        if message.onward_route.next == self.plaintext_address:
            await self._from_plaintext_side(message)
        else:
            await self._from_ciphertext_side(message)

    # --- plaintext side -------------------------------------------------------------------

    async def _from_plaintext_side(self, message: LocalMessage) -> None:
        onward = message.onward_route.pop_front()
        if not self.established.is_set():
            log.warning(
                "secure channel %s: dropped a message sent before the channel was established",
                self._name,
            )
            return
        if not onward:
            log.warning(
                "secure channel %s: dropped a message with nothing after the channel on its "
                "route (send to %s/service/NAME)",
                self._name,
                self._name,
            )
            return
        inner = Deliver(onward.addresses, message.return_route.addresses, message.payload)
        await self._send_inner(inner)

    # --- ciphertext side ------------------------------------------------------------------

    async def _from_ciphertext_side(self, message: LocalMessage) -> None:
        try:
            outer = _outer_decoder.decode(message.payload)
        except msgspec.DecodeError as exc:
            log.warning("secure channel %s: dropped a malformed message: %s", self._name, exc)
            return
        try:
            if isinstance(outer, Encrypted):
                await self._on_encrypted(outer)
            elif isinstance(outer, Answer) and self.role == "initiator":
                await self._on_answer(outer, message.return_route)
            elif isinstance(outer, Finish) and self.role == "responder":
                await self._on_finish(outer)
            elif isinstance(outer, Refuse):
                self._on_refuse(outer)
            else:
                log.warning(
                    "secure channel %s: dropped an unexpected %s", self._name, type(outer).__name__
                )
        except (NoiseError, IdentityError) as exc:
            await self._fail(f"the handshake with {self._peer_name} failed: {exc}")

    async def _on_answer(self, answer: Answer, return_route: Route) -> None:
        handshake = self._handshake
        if handshake is None or handshake.failed or handshake.should_write:
            log.warning("secure channel %s: dropped a repeated handshake message 2", self._name)
            return
        self._remote = return_route  # the responder's end, for every message from now on
        payload = handshake.read_message(answer.message)
        static = handshake.remote_static
        assert static is not None  # XX message 2 carries the responder's static key
        remote = IdentityProof.decode(payload).verify(static)
        self.remote_identity = remote
        if self.authorized and remote.identifier not in self.authorized:
            await self._refuse(
                f"the listener's identity {remote.identifier} is not authorized "
                f"(authorized: {', '.join(sorted(self.authorized))})",
                peer_reason=f"the initiator does not authorize identity {remote.identifier}",
            )
            return
        proof = IdentityProof.create(self.identity, handshake.static_public)
        await self._send_outer(Finish(handshake.write_message(proof.encode())))
        self._split(handshake)  # wait for the responder's Ready before reporting success

    async def _on_finish(self, finish: Finish) -> None:
        handshake = self._handshake
        if handshake is None or handshake.failed or handshake.should_write:
            log.warning("secure channel %s: dropped a repeated handshake message 3", self._name)
            return
        payload = handshake.read_message(finish.message)
        static = handshake.remote_static
        assert static is not None  # XX message 3 carries the initiator's static key
        remote = IdentityProof.decode(payload).verify(static)
        self.remote_identity = remote
        if self.authorized and remote.identifier not in self.authorized:
            await self._refuse(
                f"secure channel listener {self.listener}: refused identity "
                f"{remote.identifier}, which is not authorized",
                peer_reason=f"identity {remote.identifier} is not authorized to open channels "
                f"to listener {self.listener} (identity {self.identity.identifier})",
            )
            return
        self._split(handshake)
        await self._send_inner(Ready())
        self._establish()

    async def _on_encrypted(self, encrypted: Encrypted) -> None:
        decryptor = self._decryptor
        if decryptor is None:
            log.warning(
                "secure channel %s: dropped an encrypted frame that arrived before the "
                "handshake finished",
                self._name,
            )
            return
        try:
            plaintext = decryptor.decrypt(encrypted.frame)
            inner = _inner_decoder.decode(plaintext)
        except DecryptionError as exc:
            self.frames_dropped += 1
            log.warning("secure channel %s: dropped a frame (%s): %s", self._name, exc.reason, exc)
            return
        except msgspec.DecodeError as exc:
            self.frames_dropped += 1
            log.warning(
                "secure channel %s: dropped an authenticated but malformed frame: %s",
                self._name,
                exc,
            )
            return
        self.frames_received += 1
        if not self.established.is_set():
            self._establish()  # any authenticated frame from the responder confirms the channel
        if isinstance(inner, Deliver):
            if not inner.onward:
                log.warning("secure channel %s: dropped a message with no onward route", self._name)
                return
            back = Route(inner.back).prepend(self.plaintext_address)
            await self.ctx.send(LocalMessage(Route(inner.onward), back, inner.payload))
        elif isinstance(inner, Close):
            log.info("secure channel %s: the other end closed it; stopping", self._name)
            self._stop("closed by the other end", notify_peer=False)

    def _on_refuse(self, refuse: Refuse) -> None:
        if self.established.is_set():
            # Sent in clear, so anyone on the path could forge one: never close on it.
            log.warning(
                "secure channel %s: ignored a refusal on an established channel", self._name
            )
            return
        reason = f"{self._peer_name} refused the secure channel: {refuse.reason}"
        log.warning("secure channel %s: %s", self._name, reason)
        self._fail_now(reason)

    # --- handshake helpers ----------------------------------------------------------------

    def _require_handshake(self) -> HandshakeState:
        if self._handshake is None:
            raise SecureChannelError("this channel end has already finished its handshake")
        return self._handshake

    def _split(self, handshake: HandshakeState) -> None:
        send, receive = handshake.split()
        self._encryptor = ChannelEncryptor(send)
        self._decryptor = ChannelDecryptor(receive)
        self._handshake = None

    def _establish(self) -> None:
        self.established.set()
        self._settled.set()
        if self.role == "responder":
            log.info(
                "secure channel %s established with %s (listener %s)",
                self._name,
                self.remote_identity.identifier if self.remote_identity else "?",
                self.listener,
            )
        first = self._remote.next
        if self._nursery is not None and first.is_local:
            # Taken now, not in the task: a connection that goes down before the task runs
            # must still stop the channel (monitor() of a stopped worker is already set).
            self._nursery.start_soon(self._watch_carrier, self.ctx.node.monitor(first))

    async def _refuse(self, reason: str, *, peer_reason: str) -> None:
        await self._send_outer(Refuse(peer_reason))
        log.warning("secure channel %s: %s", self._name, reason)
        self._fail_now(reason)

    async def _fail(self, reason: str) -> None:
        if not self.established.is_set():
            await self._send_outer(Refuse(reason))
        log.warning("secure channel %s: %s", self._name, reason)
        self._fail_now(reason)

    def _fail_now(self, reason: str) -> None:
        self.failure = SecureChannelError(reason)
        self._stop(reason, notify_peer=False)

    def _stop(self, reason: str, *, notify_peer: bool) -> None:
        if not notify_peer or self._encryptor is None:
            self._notify_peer = False
        log.debug("secure channel %s stopping: %s", self._name, reason)
        self._settled.set()
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    async def _handshake_deadline(self) -> None:
        await trio.sleep(self.handshake_timeout)
        if not self.established.is_set():
            log.warning(
                "secure channel listener %s: the initiator at %s did not finish the handshake "
                "within %g s; giving up",
                self.listener,
                self.route,
                self.handshake_timeout,
            )
            self._fail_now("handshake timed out")

    async def _watch_carrier(self, carrier_stopped: trio.Event) -> None:
        await carrier_stopped.wait()
        log.info("secure channel %s: the connection carrying it went down; stopping", self._name)
        self._stop("its connection went down", notify_peer=False)

    # --- sending --------------------------------------------------------------------------

    async def _send_outer(self, message: ChannelMessage) -> bool:
        return await self.ctx.send(
            LocalMessage(self._remote, Route((self.ciphertext_address,)), _encode(message))
        )

    async def _send_inner(self, message: InnerMessage) -> bool:
        encryptor = self._encryptor
        assert encryptor is not None
        frame = encryptor.encrypt(_encode(message))
        self.frames_sent += 1
        return await self._send_outer(Encrypted(frame))

    @property
    def _name(self) -> str:
        return f"/service/{self.ctx.address.value}"

    @property
    def _peer_name(self) -> str:
        return f"the listener at {self.route}" if self.role == "initiator" else "the initiator"


# --- the listener -------------------------------------------------------------------------------


class SecureChannelListener(Actor):
    """Accepts secure channels: starts a responder `SecureChannelWorker` for each message 1.

    Args:
        identity: The identity this node proves in each handshake.
        static_private: The X25519 static private key of the handshakes (a fresh one if None).
        authorized: Identifiers allowed to open channels (empty: any).
        handshake_timeout: Seconds a responder waits for the initiator's last message.
    """

    mailbox_size = 64

    def __init__(
        self,
        identity: Identity,
        *,
        static_private: bytes | None = None,
        authorized: Iterable[str] = (),
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
    ) -> None:
        if not isinstance(identity, Identity):
            raise TypeError(f"identity must be an Identity, got {type(identity).__name__}")
        self.identity = identity
        self.static_private = static_private or _fresh_static_key()
        self.authorized = _authorized_set(authorized)
        self.handshake_timeout = handshake_timeout

    def info(self) -> SecureChannelListenerInfo:
        """This listener, as `secure-channel-listener list` prints it."""
        return SecureChannelListenerInfo(
            address=f"/service/{self.ctx.address.value}",
            identifier=self.identity.identifier,
            authorized=sorted(self.authorized),
        )

    async def handle_message(self, message: LocalMessage) -> None:
        name = self.ctx.address.value
        try:
            hello = _outer_decoder.decode(message.payload)
        except msgspec.DecodeError as exc:
            log.warning("secure channel listener %s: dropped a malformed message: %s", name, exc)
            return
        if not isinstance(hello, Hello):
            log.warning(
                "secure channel listener %s: dropped a %s; it only accepts handshake message 1",
                name,
                type(hello).__name__,
            )
            return
        if not message.return_route:
            log.warning(
                "secure channel listener %s: dropped a handshake with no return route", name
            )
            return
        handshake = HandshakeState(False, static_private=self.static_private, prologue=PROLOGUE)
        try:
            handshake.read_message(hello.message)
        except HandshakeError as exc:
            log.warning(
                "secure channel listener %s: bad handshake from %s: %s",
                name,
                message.return_route,
                exc,
            )
            await self.ctx.reply(message, _encode(Refuse(f"bad handshake message 1: {exc}")))
            return
        worker = SecureChannelWorker(
            role="responder",
            identity=self.identity,
            handshake=handshake,
            route=message.return_route,
            authorized=self.authorized,
            listener=name,
            handshake_timeout=self.handshake_timeout,
        )
        try:
            await self.ctx.node.start_actor(
                worker, random_address(), aliases=[random_address()], policy=TEMPORARY
            )
        except OckamError as exc:
            log.warning(
                "secure channel listener %s: could not answer %s: %s",
                name,
                message.return_route,
                exc,
            )


def _fresh_static_key() -> bytes:
    return X25519PrivateKey.generate().private_bytes_raw()


# --- opening channels ---------------------------------------------------------------------------


async def create_secure_channel(
    node: Node,
    route: Route | str,
    *,
    identity: Identity,
    authorized: Iterable[str] = (),
    timeout: float = 10,
    static_private: bytes | None = None,
) -> SecureChannelInfo:
    """Open a secure channel to the listener at the end of `route`.

    Args:
        node: The node the channel starts from.
        route: The route to the listener, e.g. ``/ip4/10.0.0.2/tcp/4000/service/api``.
        identity: The identity this end proves.
        authorized: Identifiers the listener's identity must be one of (empty: any).
        timeout: Seconds to wait for the handshake.
        static_private: The X25519 static private key to use (a fresh one if None).

    Returns:
        The new channel; send into it along ``/service/<hex>/service/NAME``.

    Raises:
        SecureChannelError: The route is unreachable, the listener refused, its identity is not
            authorized, the handshake failed, or nothing answered within `timeout`.
        ValueError: An authorized identifier is malformed, or the timeout is not positive.
    """
    onward = _as_route(route)
    if not onward:
        raise RouteError("the route to the secure channel listener is empty")
    allowed = _authorized_set(authorized)
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    try:
        await node.router.resolve(onward.next)  # fail now, and clearly, on an unreachable peer
    except TransportError as exc:
        raise SecureChannelError(f"cannot open a secure channel to {onward}: {exc}") from None
    handshake = HandshakeState(
        True, static_private=static_private or _fresh_static_key(), prologue=PROLOGUE
    )
    worker = SecureChannelWorker(
        role="initiator",
        identity=identity,
        handshake=handshake,
        route=onward,
        authorized=allowed,
    )
    await node.start_actor(worker, random_address(), aliases=[random_address()], policy=TEMPORARY)
    with trio.move_on_after(timeout):
        await worker.wait_settled()
    if worker.established.is_set() and not worker.stopped.is_set():
        return worker.info()
    node.stop_actor(worker.ctx.address)
    if worker.failure is not None:
        raise worker.failure
    if worker.established.is_set():
        raise SecureChannelError(f"the secure channel to {onward} closed as soon as it opened")
    raise SecureChannelError(
        f"no secure channel listener answered at {onward} within {timeout:g} s "
        "(is the route right, and does it end at a listener such as /service/api?)"
    )


class SecureChannels:
    """A node's secure channels and listeners, under one identity.

    Args:
        node: The node.
        identity: The identity its channel ends and listeners prove.
        static_private: The X25519 static key of its handshakes (a fresh one if None), e.g.
            from `Vault.get_or_create_static_key`.
    """

    def __init__(
        self, node: Node, identity: Identity, *, static_private: bytes | None = None
    ) -> None:
        if not isinstance(identity, Identity):
            raise TypeError(f"identity must be an Identity, got {type(identity).__name__}")
        self.node = node
        self.identity = identity
        self.static_private = static_private or _fresh_static_key()

    @property
    def identifier(self) -> str:
        """The identifier of this node's identity."""
        return self.identity.identifier

    async def create(
        self,
        route: Route | str,
        *,
        authorized: Iterable[str] = (),
        timeout: float = 10,
        reuse: bool = False,
    ) -> SecureChannelInfo:
        """Open a channel to the listener at the end of `route` (see `create_secure_channel`).

        With `reuse`, an established channel this node opened along the same route with the
        same authorized identifiers is returned instead of a new one.
        """
        if reuse:
            onward = _as_route(route)
            allowed = _authorized_set(authorized)
            for worker in self._workers():
                if (
                    worker.role == "initiator"
                    and worker.route == onward
                    and worker.authorized == allowed
                    and worker.established.is_set()
                    and not worker.stopped.is_set()
                ):
                    return worker.info()
        return await create_secure_channel(
            self.node,
            route,
            identity=self.identity,
            authorized=authorized,
            timeout=timeout,
            static_private=self.static_private,
        )

    def list(self) -> builtins.list[SecureChannelInfo]:
        """Every established channel end on the node, initiators and responders."""
        return [w.info() for w in self._workers() if w.established.is_set()]

    def show(self, address: str | Address) -> SecureChannelInfo | None:
        """The channel end whose plaintext address is `address` (``/service/hex`` or ``hex``)."""
        worker = self._worker(address)
        return None if worker is None else worker.info()

    def delete(self, address: str | Address) -> bool:
        """Close the channel end at `address`; the other end closes too. False if none."""
        worker = self._worker(address)
        if worker is None:
            return False
        worker.close("deleted")
        return True

    async def create_listener(
        self,
        address: str = DEFAULT_LISTENER,
        *,
        authorized: Iterable[str] = (),
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
    ) -> SecureChannelListenerInfo:
        """Start a listener at local `address` (default ``api``).

        Raises:
            AddressInUse: Another worker has that address.
            ValueError: An authorized identifier is malformed.
        """
        listener = SecureChannelListener(
            self.identity,
            static_private=self.static_private,
            authorized=authorized,
            handshake_timeout=handshake_timeout,
        )
        await self.node.start_actor(listener, local(_local_value(address)))
        return listener.info()

    def listeners(self) -> builtins.list[SecureChannelListenerInfo]:
        """Every listener on the node."""
        found = [self.node.actor_at(local(w.address)) for w in self.node.workers()]
        return [a.info() for a in found if isinstance(a, SecureChannelListener)]

    def delete_listener(self, address: str) -> bool:
        """Stop the listener at `address`; channels it accepted stay open. False if none."""
        value = _local_value(address)
        if not value or not isinstance(self.node.actor_at(local(value)), SecureChannelListener):
            return False
        return self.node.stop_actor(local(value))

    def _workers(self) -> builtins.list[SecureChannelWorker]:
        found = [self.node.actor_at(local(w.address)) for w in self.node.workers()]
        return [a for a in found if isinstance(a, SecureChannelWorker)]

    def _worker(self, address: str | Address) -> SecureChannelWorker | None:
        value = _local_value(address)
        if not value or "/" in value or "#" in value:
            return None
        worker = self.node.actor_at(local(value))
        if isinstance(worker, SecureChannelWorker) and worker.plaintext_address.value == value:
            return worker
        return None
