"""`SecureChannelWorker`: one end of a secure channel, as an actor.

Each end has two local addresses: the *plaintext* address (its primary one, ``/service/<hex>``),
into which local workers send messages that should cross the channel, and the *ciphertext*
address (an alias), which only the other end sends to. The worker tells the two apart by the
address a message was delivered to. It drives its half of the handshake and then a
`ChannelEncryptor` / `ChannelDecryptor` pair; the messages it exchanges are those of
`_channel_protocol`.

A channel end also stops when the connection that carries it (the first hop of the route to
the other end) goes down, as relay workers do. That cannot notice the other end's node dying
behind a relay, whose connection stays up, so established ends also keep each other alive:
each sends an encrypted `Heartbeat` when it has sent nothing for `keepalive_interval` seconds,
and stops when it has received no authenticated frame for `keepalive_timeout` seconds.
"""

from __future__ import annotations

import logging

import msgspec
import trio

from actors import Actor, Address, LocalMessage, Route

from ._channel_info import Role, SecureChannelInfo
from ._channel_protocol import (
    Answer,
    ChannelMessage,
    Close,
    Deliver,
    Encrypted,
    Finish,
    Heartbeat,
    Hello,
    InnerMessage,
    Ready,
    Refuse,
    SecureChannelError,
    encode,
    inner_decoder,
    outer_decoder,
)
from ._handshake import HandshakeState
from ._identity import Identity, IdentityError, IdentityProof, IdentityPublic
from ._noise_errors import DecryptionError, NoiseError
from ._transport import ChannelDecryptor, ChannelEncryptor

log = logging.getLogger("ockam.secure")

HANDSHAKE_TIMEOUT = 10.0
"""Seconds a responder waits for the initiator's last handshake message before giving up."""

CLOSE_TIMEOUT = 1.0
"""Seconds a stopping channel end may spend telling the other end."""

KEEPALIVE_INTERVAL = 5.0
"""Seconds an established channel end may send nothing before it sends a `Heartbeat`."""

KEEPALIVE_TIMEOUT = 3 * KEEPALIVE_INTERVAL
"""Seconds an established channel end waits for any frame from the other end before stopping."""


def check_keepalive(interval: float, timeout: float) -> None:
    """Raise `ValueError` unless `interval` and `timeout` make a usable keepalive.

    The timeout must be longer than the interval, or a quiet but healthy channel would end
    between two heartbeats.
    """
    if not interval > 0:
        raise ValueError(
            f"keepalive_interval must be a positive number of seconds, got {interval!r}"
        )
    if not timeout > interval:
        raise ValueError(
            f"keepalive_timeout must be longer than keepalive_interval ({interval!r} s), "
            f"got {timeout!r}"
        )


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
        frames_sent, frames_received, frames_dropped: Encrypted frames counted at this end
            (heartbeats included).
        keepalive_interval, keepalive_timeout: See `KEEPALIVE_INTERVAL`, `KEEPALIVE_TIMEOUT`.
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
        keepalive_interval: float = KEEPALIVE_INTERVAL,
        keepalive_timeout: float = KEEPALIVE_TIMEOUT,
    ) -> None:
        check_keepalive(keepalive_interval, keepalive_timeout)
        self.role: Role = role
        self.identity = identity
        self.route = route
        self.authorized = authorized
        self.listener = listener
        self.handshake_timeout = handshake_timeout
        self.keepalive_interval = keepalive_interval
        self.keepalive_timeout = keepalive_timeout
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
        # trio.current_time() of the last frame sent and the last authenticated frame received.
        self._last_sent = 0.0
        self._last_received = 0.0

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
            outer = outer_decoder.decode(message.payload)
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
            inner = inner_decoder.decode(plaintext)
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
        self._last_received = trio.current_time()
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
        # A Heartbeat (or a repeated Ready) only refreshed _last_received.

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
        now = trio.current_time()
        self._last_sent = max(self._last_sent, now)
        self._last_received = max(self._last_received, now)
        if self._nursery is not None:
            self._nursery.start_soon(self._send_heartbeats)
            self._nursery.start_soon(self._watch_silence)
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

    async def _send_heartbeats(self) -> None:
        while True:
            due = self._last_sent + self.keepalive_interval
            if trio.current_time() < due:
                await trio.sleep_until(due)
            else:
                await self._send_inner(Heartbeat())  # moves _last_sent on, even if dropped

    async def _watch_silence(self) -> None:
        while True:
            deadline = self._last_received + self.keepalive_timeout
            if trio.current_time() < deadline:
                await trio.sleep_until(deadline)
                continue
            log.warning(
                "secure channel %s: no traffic received from %s for %g s; the other end is "
                "gone or unreachable; stopping",
                self._name,
                self._peer_name,
                self.keepalive_timeout,
            )
            self._stop("no traffic from the other end", notify_peer=False)
            return

    # --- sending --------------------------------------------------------------------------

    async def _send_outer(self, message: ChannelMessage) -> bool:
        return await self.ctx.send(
            LocalMessage(self._remote, Route((self.ciphertext_address,)), encode(message))
        )

    async def _send_inner(self, message: InnerMessage) -> bool:
        encryptor = self._encryptor
        assert encryptor is not None
        frame = encryptor.encrypt(encode(message))
        self.frames_sent += 1
        self._last_sent = trio.current_time()
        return await self._send_outer(Encrypted(frame))

    @property
    def _name(self) -> str:
        return f"/service/{self.ctx.address.value}"

    @property
    def _peer_name(self) -> str:
        return f"the listener at {self.route}" if self.role == "initiator" else "the initiator"
