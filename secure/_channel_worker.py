"""`SecureChannelWorker`: one end of a secure channel, as an actor.

Each end has two local addresses: the *plaintext* address (its primary one, ``/service/<hex>``),
into which local workers send messages that should cross the channel, and the *ciphertext*
address (an alias), which only the other end sends to. The worker tells the two apart by the
address a message was delivered to, and feeds each to its `ChannelMachine`, which holds the
protocol (handshake, authorization, encryption, keepalive); the worker does the sending, the
routing on of what the machine delivers, and the timing of its deadlines.

A channel end also stops when the connection that carries it (the first hop of the route to
the other end) goes down, as relay workers do. That cannot notice the other end's node dying
behind a relay, whose connection stays up, so established ends also keep each other alive
(the machine's keepalive: a `Heartbeat` after `keepalive_interval` of sending nothing, the end
after `keepalive_timeout` of receiving nothing).

The channel's *subject* (the other end's identifier and the attributes of its verified
credential, see `subject`) is what policies on portals are checked against; a portal worker
finds the channel end that carries it with `Node.actor_at` of its route's first hop.
"""

from __future__ import annotations

import logging
import math
import time

import trio

from actors import Actor, Address, LocalMessage, Route

from ._channel_events import Closed, Established, Event, Presented, Transmit
from ._channel_info import SecureChannelInfo
from ._channel_machine import ChannelMachine
from ._channel_protocol import (
    Deliver,
    MessageDropped,
    RemoteProtocolError,
    SecureChannelError,
)
from ._channel_state import ESTABLISHED
from ._policy_eval import Subject

log = logging.getLogger("ockam.secure")

CLOSE_TIMEOUT = 1.0
"""Seconds a stopping channel end may spend telling the other end."""


class SecureChannelWorker(Actor):
    """One end of a secure channel: a plaintext address and a ciphertext address (an alias).

    Do not start one directly: `create_secure_channel` starts initiators and
    `SecureChannelListener` starts responders.

    Args:
        machine: The end's protocol, already started: the initiator's has written `Hello`,
            the responder's has read it.
        first: The first message for the other end (`Hello` or `Answer`), sent on start.

    Attributes:
        machine: The end's protocol: role, route, identities, frame counters.
        established: Set once the channel carries messages.
        failure: Why the handshake failed, if it did.
    """

    mailbox_size = 256

    def __init__(self, machine: ChannelMachine, first: bytes) -> None:
        self.machine = machine
        self.established = trio.Event()
        self.failure: SecureChannelError | None = None
        self._first = first
        self._settled = trio.Event()
        self._stopped = trio.Event()
        self._nursery: trio.Nursery | None = None
        self._timer = trio.CancelScope()
        self._subject_changed = trio.Event()
        # Handling a message of that direction (in the mailbox loop, or in a sender's task).
        self._sending = False
        self._receiving = False

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

    def subject(self, now: float) -> Subject:
        """The other end as policies see it at `now` (``time.time()``): its identifier
        always; its credential's attributes (and ``has_credential``) only while that
        credential is unexpired.

        Raises:
            LocalProtocolError: The handshake has not verified the other end yet (a channel
                that carries messages always has).
        """
        return self.machine.subject(now)

    @property
    def subject_expires(self) -> float | None:
        """When the current credential's attributes lapse (seconds since the Unix epoch),
        or None without a verified credential."""
        return self.machine.subject_expires

    @property
    def subject_changed(self) -> trio.Event:
        """Set when the subject changes: the other end presented a fresh credential that
        replaced the old one, or this end stopped.

        Each change sets the event and puts a new one in its place, so read the property
        again after each wake-up: ``while True: changed = worker.subject_changed; ...;
        await changed.wait()``. Check `stopped` too; a stopped end's event is set for good.
        """
        return self._subject_changed

    async def present(self) -> bool:
        """Present this node's current credential (from its trust context) again to the other
        end, after it was refreshed; False when the channel is not established or there is
        no valid credential to present."""
        if self.machine.state is not ESTABLISHED or self._stopped.is_set():
            return False
        frame = self.machine.present(trio.current_time())
        return frame is not None and await self._send(frame)

    def info(self) -> SecureChannelInfo:
        """This end, as `secure-channel show` prints it."""
        machine = self.machine
        remote = machine.remote_identity
        return SecureChannelInfo(
            address=f"/service/{self.plaintext_address.value}",
            route=str(machine.route),
            role=machine.role,
            identifier=machine.settings.identity.identifier,
            remote_identifier=remote.identifier if remote else "",
            authorized=sorted(machine.authorized),
            ciphertext_address=f"/service/{self.ciphertext_address.value}",
        )

    @property
    def settled(self) -> trio.Event:
        """Set once the channel is established, or this end stopped without it."""
        return self._settled

    def close(self, reason: str = "closed") -> None:
        """Stop this end; the other end is told (`Close`) and stops too."""
        self._stop(reason)

    # --- actor ----------------------------------------------------------------------------

    async def on_start(self) -> None:
        if not await self._send(self._first):
            raise SecureChannelError(
                f"cannot reach {self.machine.route}: the first hop dropped the handshake "
                "(see the node's log for why)"
            )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._keep_time)
                await super().run(task_status=task_status)
        finally:
            self._settled.set()
            self._stopped.set()
            self._subject_changed.set()
            node_stopping = self.ctx.node.nursery.cancel_scope.cancel_called
            goodbye = self.machine.close(tell_peer=not node_stopping)
            if goodbye is not None:
                with trio.move_on_after(CLOSE_TIMEOUT) as scope:
                    scope.shield = True
                    await self._send(goodbye)

    async def try_handle_now(self, message: LocalMessage) -> bool:
        """Encrypt or decrypt in the sender's task once the channel is established (the data
        path: a portal's payloads and their replies), saving a task switch at each end.

        During the handshake every message queues for the mailbox loop, as does a message
        that comes while one of its direction is being handled (by the loop, or by a sender
        waiting further on): so each direction's frames are encrypted, and delivered, in the
        order they came. The two directions are independent (one key and counter each): a
        portal that answers a delivered payload with a credit sends it through at once.
        """
        outgoing = message.onward_route.next == self.plaintext_address
        if (
            (self._sending if outgoing else self._receiving)
            or self.machine.state is not ESTABLISHED
            or self._stopped.is_set()
        ):
            return False
        await self._handle(message, outgoing=outgoing)
        return True

    async def handle_message(self, message: LocalMessage) -> None:
        await self._handle(message, outgoing=message.onward_route.next == self.plaintext_address)

    async def _handle(self, message: LocalMessage, *, outgoing: bool) -> None:
        if outgoing:
            self._sending = True
            try:
                await self._from_plaintext_side(message)
            finally:
                self._sending = False
        else:
            self._receiving = True
            try:
                await self._from_ciphertext_side(message)
            finally:
                self._receiving = False

    async def _from_plaintext_side(self, message: LocalMessage) -> None:
        onward = message.onward_route.pop_front()
        if self.machine.state is not ESTABLISHED:
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
        data = self.machine.send(
            onward.addresses, message.return_route.addresses, message.payload, trio.current_time()
        )
        await self._send(data)

    async def _from_ciphertext_side(self, message: LocalMessage) -> None:
        try:
            event = self.machine.receive(message.payload, message.return_route, trio.current_time())
        except MessageDropped as exc:
            log.warning("secure channel %s: dropped %s", self._name, exc)
            return
        except RemoteProtocolError as exc:
            await self._fail(exc)
            return
        if type(event) is Deliver:
            back = Route(event.back).prepend(self.plaintext_address)
            await self.ctx.send(LocalMessage(Route(event.onward), back, event.payload))
        elif event is not None:
            await self._act(event)

    # --- what the machine says ------------------------------------------------------------

    async def _act(self, event: Event) -> None:
        if isinstance(event, Transmit):
            await self._send(event.data)
        elif isinstance(event, Presented):
            log.info(
                "secure channel %s: %s presented a credential with %s, valid until %.0f",
                self._name,
                event.subject.identifier,
                ", ".join(f"{k}={v}" for k, v in sorted(event.subject.attributes.items()))
                or "no attributes",
                event.expires,
            )
            changed, self._subject_changed = self._subject_changed, trio.Event()
            changed.set()
        elif isinstance(event, Established):
            if event.refused is not None:
                log.warning("secure channel %s: dropped %s", self._name, event.refused)
            if event.credential is not None:
                await self._send(event.credential)
            if event.data is not None:
                await self._send(event.data)
            self._establish(event)
        elif isinstance(event, Closed):
            level = logging.INFO if event.by_peer else logging.WARNING
            log.log(level, "secure channel %s: %s; stopping", self._name, event.reason)
            self._stop(event.reason)

    def _establish(self, event: Established) -> None:
        self.established.set()
        self._settled.set()
        self._timer.deadline = self.machine.deadline  # keepalive from now on
        if self.machine.role == "responder":
            log.info(
                "secure channel %s established with %s (listener %s)",
                self._name,
                event.remote.identifier,
                self.machine.listener,
            )
        first = self.machine.peer.next
        if self._nursery is not None and first.is_local:
            # Taken now, not in the task: a connection that goes down before the task runs
            # must still stop the channel (monitor() of a stopped worker is already set).
            self._nursery.start_soon(self._watch_carrier, self.ctx.node.monitor(first))
        if self._nursery is not None and self.machine.settings.admit is not None:
            self._nursery.start_soon(self._keep_admitted)

    async def _fail(self, error: RemoteProtocolError) -> None:
        if error.refusal is not None:
            await self._send(error.refusal)
        log.warning("secure channel %s: %s", self._name, error)
        self.failure = error
        self._stop(str(error))

    def _stop(self, reason: str) -> None:
        log.debug("secure channel %s stopping: %s", self._name, reason)
        self._settled.set()
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    async def _keep_time(self) -> None:
        """Run the machine's deadlines: heartbeats, keepalive and handshake timeouts."""
        while True:
            self._timer = trio.CancelScope(deadline=self.machine.deadline)
            with self._timer:
                await trio.sleep_forever()
            try:
                event = self.machine.tick(trio.current_time())
            except RemoteProtocolError as exc:
                await self._fail(exc)
                return
            if event is not None:
                await self._act(event)

    async def _watch_carrier(self, carrier_stopped: trio.Event) -> None:
        await carrier_stopped.wait()
        log.info("secure channel %s: the connection carrying it went down; stopping", self._name)
        self.machine.close(tell_peer=False)
        self._stop("its connection went down")

    async def _keep_admitted(self) -> None:
        """A channel its listener admitted by a rule (`ChannelSettings.admit`, a project
        node's members only) lasts while the rule holds: when the credential it was admitted
        by lapses and no fresh one replaced it, the rule is asked again, and a refusal closes
        the channel (and so the relays and portals it carries)."""
        admit = self.machine.settings.admit
        assert admit is not None
        while True:
            changed, expires = self._subject_changed, self.subject_expires
            with trio.move_on_after(max(0.0, (expires or math.inf) - time.time())):
                await changed.wait()
                continue
            reason = admit(self.subject(time.time()))
            if reason is not None:
                log.warning("secure channel %s: %s; closing", self._name, reason)
                self.close(f"its credential expired: {reason}")
                return
            await changed.wait()

    async def _send(self, data: bytes) -> bool:
        return await self.ctx.send(
            LocalMessage(self.machine.peer, Route((self.ciphertext_address,)), data)
        )

    @property
    def _name(self) -> str:
        return f"/service/{self.ctx.address.value}"
