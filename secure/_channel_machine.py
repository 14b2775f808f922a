"""`ChannelMachine`: one end of a secure channel as a state machine, sans-IO.

It holds what the channel's protocol decides: the message sequence, `--authorized`, the
keepalive, and the Noise handshake and transport encryption under them. It takes events
(`start`, `receive`, `send`, `close`, `tick` at a deadline), each with the time `now` (a
plain float), and returns what to do: bytes for the other end (along `ChannelMachine.peer`),
a `Deliver` to route on, or an event (`Transmit`, `Established`, `Closed`). It touches no
clock, task or socket; `SecureChannelWorker` feeds it and does the I/O.

It moves along `TRANSITIONS` (`_channel_state`), running a handler per input. An input not in
its row is refused: a received one with `MessageDropped` (nothing changes), a local one with
`LocalProtocolError`. A handshake that fails, a peer that refuses or is not authorized, and a
handshake that does not finish in time raise `RemoteProtocolError`. After either of those two
errors the machine is in `ERROR`.

The data path skips the table: `receive` of an `Encrypted(Deliver)` and `send`, while
`ESTABLISHED`, check the state and go to the cipher (as the table's rows say; a test holds
them to it). Keepalive costs it one attribute store: the time of the last frame each way.

Credentials (`ChannelSettings.trust`): a verified one is the other end's `subject` (returned
as `Presented`); one that does not verify is dropped (`DropReason.CREDENTIAL_REFUSED`) and the
channel goes on. A responder whose `ChannelSettings.admit` refuses the initiator's subject
once `Finish` is read (with its credential) refuses the channel, with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

import msgspec

from actors import Address, Route

from ._channel_events import Closed, Established, Event, Presented, Transmit
from ._channel_info import Role
from ._channel_protocol import (
    PROLOGUE,
    Answer,
    Close,
    Deliver,
    Encrypted,
    Finish,
    Heartbeat,
    Hello,
    InnerMessage,
    LocalProtocolError,
    MessageDropped,
    Present,
    Ready,
    Refuse,
    RemoteProtocolError,
    inner_decoder,
    outer_decoder,
)
from ._channel_protocol import encode_channel_message as encode
from ._channel_settings import ChannelSettings, not_admitted, unauthorized
from ._channel_state import (
    AWAIT_ANSWER,
    AWAIT_FINISH,
    AWAIT_READY,
    ERROR,
    ESTABLISHED,
    START,
    TRANSITIONS,
    ChannelState,
    Input,
    unexpected,
)
from ._credential import Credential, CredentialData, CredentialError
from ._handshake import HandshakeState
from ._identity import IdentityError, IdentityProof, IdentityPublic
from ._noise_errors import DecryptionError, DropReason, NoiseError
from ._policy_eval import Subject
from ._transport import ChannelDecryptor, ChannelEncryptor


class ChannelMachine:
    """One end of a secure channel, sans-IO (see the module docstring for the protocol).

    Args:
        role: ``initiator`` (call `start`) or ``responder`` (`receive` the `Hello`).
        settings: Identity, static key, timeouts.
        route: The initiator: the route to the listener. A responder learns it from `Hello`.
        authorized: Identifiers accepted as the other end (empty: any).
        listener: The responder: the name of the listener that accepted it, for messages.

    Attributes:
        state: Where this end is.
        route: See `SecureChannelInfo.route`.
        peer: Where bytes for the other end go: the route to the listener until `Answer`
            arrives (initiator), then the return route of the other end's last handshake
            message.
        remote_identity: The other end's verified identity, once known.
        remote_credential: What the other end's last verified credential states, if any
            (see `subject`).
        remote_issuer: The identifier of the authority that issued it.
        frames_sent, frames_received, frames_dropped: Encrypted frames counted at this end
            (heartbeats included; received ones authenticated).
    """

    def __init__(
        self,
        role: Role,
        settings: ChannelSettings,
        *,
        route: Route = Route(),  # noqa: B008 - Route is immutable
        authorized: frozenset[str] = frozenset(),
        listener: str = "",
    ) -> None:
        if role not in ("initiator", "responder"):
            raise ValueError(f"role must be 'initiator' or 'responder', got {role!r}")
        self.role: Role = role
        self.settings, self.authorized, self.listener = settings, authorized, listener
        self.state: ChannelState = START
        self.route = self.peer = route
        self.remote_identity: IdentityPublic | None = None
        self.remote_credential: CredentialData | None = None
        self.remote_issuer: str | None = None
        self.frames_sent = self.frames_received = self.frames_dropped = 0
        self._handshake: HandshakeState | None = HandshakeState(
            role == "initiator", static_private=settings.static_private, prologue=PROLOGUE
        )
        self._encryptor: ChannelEncryptor | None = None
        self._decryptor: ChannelDecryptor | None = None
        self._handshake_deadline = math.inf
        self._last_sent = 0.0
        self._last_received = 0.0
        # The initiator's create bounds its handshake; a responder gives up on its own.
        self._handshake_timeout = math.inf if role == "initiator" else settings.handshake_timeout

    def __repr__(self) -> str:
        return f"<ChannelMachine {self.role} {self.state.value}>"

    @property
    def deadline(self) -> float:
        """When `tick` has something to do next (`math.inf`: nothing is due); traffic only
        moves it later, so a caller may sleep until it and ask again."""
        state = self.state
        if state is ESTABLISHED:
            settings = self.settings
            return min(
                self._last_sent + settings.keepalive_interval,
                self._last_received + settings.keepalive_timeout,
            )
        if state is AWAIT_ANSWER or state is AWAIT_FINISH or state is AWAIT_READY:
            return self._handshake_deadline
        return math.inf

    def subject(self, now: float) -> Subject:
        """The other end as a policy sees it at `now` (seconds since the Unix epoch): its
        identifier, and its credential's attributes while that credential is unexpired.

        Raises:
            LocalProtocolError: The other end's identity is not verified yet.
        """
        remote = self.remote_identity
        if remote is None:
            raise LocalProtocolError(
                f"a secure channel {self.role} that is {self.state.value} has no subject yet"
            )
        data = self.remote_credential
        if data is None or data.is_expired(now):
            return Subject(remote.identifier)
        return Subject.from_credential(data)

    @property
    def subject_expires(self) -> float | None:
        """When the attributes of `subject` lapse (seconds since the Unix epoch); None
        without a verified credential."""
        data = self.remote_credential
        return None if data is None else float(data.expires)

    # --- inputs -----------------------------------------------------------------------------

    def start(self, now: float) -> bytes:
        """The initiator's first message (`Hello`), to send along `route`.

        Raises:
            LocalProtocolError: This is a responder, or it already started.
        """
        self._step(Input.START, None, self.route, now)
        handshake = self._require_handshake()
        self._handshake_deadline = now + self._handshake_timeout
        return encode(Hello(handshake.write_message()))

    def receive(self, data: bytes, sender: Route, now: float) -> Event:
        """Take one message from the other end: the payload of a message to the ciphertext
        address (or, for a responder's first, to the listener), and its return route.

        Returns:
            A `Deliver` to route on; `Transmit` (`Answer`, `Finish`) or `Established` during
            the handshake; `Closed` when the other end closed the channel; None otherwise.

        Raises:
            MessageDropped: The message was refused; nothing changed.
            RemoteProtocolError: The handshake failed, or the other end refused it or is not
                authorized: send `refusal`, if any, along `peer`, and stop.
        """
        try:
            message = outer_decoder.decode(data)
        except msgspec.DecodeError as exc:
            raise MessageDropped(
                f"a malformed message: {exc}", reason=DropReason.MALFORMED
            ) from None
        if type(message) is Encrypted:
            state = self.state
            if state is ESTABLISHED:
                inner = self._open(message.frame, now)
                if type(inner) is Deliver:  # the data path: TRANSITIONS' Deliver, inlined
                    if not inner.onward:
                        raise MessageDropped(
                            "a message with no onward route", reason=DropReason.MALFORMED
                        )
                    return inner
                return self._step(type(inner), inner, sender, now)
            if state is AWAIT_READY:
                inner = self._open(message.frame, now)
                return self._step(type(inner), inner, sender, now)
        return self._step(type(message), message, sender, now)

    def send(
        self, onward: tuple[Address, ...], back: tuple[Address, ...], payload: bytes, now: float
    ) -> bytes:
        """`payload`, for `onward` on the far side with return route `back`, as the bytes to
        send to the other end.

        Raises:
            LocalProtocolError: The channel is not established (yet, or any more).
        """
        encryptor = self._encryptor
        if self.state is not ESTABLISHED or encryptor is None:  # TRANSITIONS' SEND, inlined
            raise self._refuse_input(Input.SEND)
        self._last_sent = now
        self.frames_sent += 1
        return encode(Encrypted(encryptor.encrypt(encode(Deliver(onward, back, payload)))))

    def present(self, now: float) -> bytes | None:
        """This end's current credential (from its trust context) as a `Present` frame for
        the other end, over an established channel: after a refresh. None when there is no
        valid credential to present.

        Raises:
            LocalProtocolError: The channel is not established (yet, or any more).
        """
        self._step(Input.PRESENT, None, self.peer, now)
        frame = self._present_frame()
        if frame is not None:
            self._last_sent = now
        return frame

    def tick(self, now: float) -> Event:
        """Act on `deadline`: a `Transmit` of a `Heartbeat`, `Closed` after
        `keepalive_timeout` of silence, or None when nothing is due yet.

        Raises:
            RemoteProtocolError: The handshake did not finish within `handshake_timeout`.
        """
        if self.state is ESTABLISHED:
            settings = self.settings
            if now >= self._last_received + settings.keepalive_timeout:
                return self._step(Input.SILENCE, None, self.peer, now)
            if now >= self._last_sent + settings.keepalive_interval:
                return self._step(Input.HEARTBEAT, None, self.peer, now)
        elif now >= self.deadline:
            return self._step(Input.HANDSHAKE_TIMEOUT, None, self.peer, now)
        return None

    def close(self, *, tell_peer: bool = True) -> bytes | None:
        """End this end; nothing happens when it has already ended.

        Returns:
            The `Close` to send to the other end, when the channel was established and
            `tell_peer`; otherwise None.
        """
        was = self.state
        if Input.CLOSE not in TRANSITIONS[self.role, was]:
            return None
        self._step(Input.CLOSE, None, self.peer, math.nan)
        if was is ESTABLISHED and tell_peer:
            return self._encrypt(Close("the other end closed the channel"))
        return None

    # --- transitions ------------------------------------------------------------------------

    def _step(self, kind: type | Input, message: object, sender: Route, now: float) -> Event:
        """Move along `TRANSITIONS` by `kind`, running its handler on the way."""
        target = TRANSITIONS[self.role, self.state].get(kind)
        if target is None:
            raise self._refuse_input(kind) if isinstance(kind, Input) else unexpected(self, kind)
        try:
            event = _HANDLERS[kind](self, message, sender, now)
        except RemoteProtocolError:
            self.state = ERROR
            raise
        self.state = target
        return event

    def _on_hello(self, hello: Hello, sender: Route, now: float) -> Transmit:
        if not sender:
            raise MessageDropped("a handshake with no return route", reason=DropReason.MALFORMED)
        self.route = self.peer = sender
        handshake = self._require_handshake()
        self._handshake_deadline = now + self._handshake_timeout
        try:
            handshake.read_message(hello.message)
        except NoiseError as exc:
            raise self._failed(f"bad handshake message 1: {exc}") from None
        proof = IdentityProof.create(self.settings.identity, handshake.static_public)
        return Transmit(encode(Answer(handshake.write_message(proof.encode()))))

    def _on_answer(self, answer: Answer, sender: Route, now: float) -> Transmit:
        self.peer = sender  # the responder's end, for every message from now on
        handshake = self._require_handshake()
        self._verify(handshake, answer.message)
        proof = IdentityProof.create(self.settings.identity, handshake.static_public)
        message = handshake.write_message(proof.encode())
        self._split(handshake)  # established only once the responder's Ready arrives
        return Transmit(encode(Finish(message, self._present_frame(inside=True))))

    def _on_finish(self, finish: Finish, sender: Route, now: float) -> Established:
        handshake = self._require_handshake()
        remote = self._verify(handshake, finish.message)
        self._split(handshake)
        refused = None if finish.credential is None else self._read_present(finish.credential, now)
        subject, admit = self.subject(now), self.settings.admit
        if admit is not None and (reason := admit(subject)) is not None:
            raise not_admitted(self.listener, remote.identifier, reason, refused=refused)
        self._last_received = self._last_sent = now
        credential = self._present_frame()  # encrypted before Ready, as it is sent
        return Established(remote, self._encrypt(Ready()), subject, credential, refused)

    def _read_present(self, frame: bytes, now: float) -> str | None:
        """Read the `Present` frame a `Finish` carries; why it was not believed, if not."""
        try:
            inner = self._open(frame, now)
            if type(inner) is not Present:
                return f"Finish carried a {type(inner).__name__}"
            self._on_present(inner, self.peer, now)
        except MessageDropped as exc:
            return str(exc)
        return None

    def _on_refuse(self, refuse: Refuse, sender: Route, now: float) -> Event:
        raise RemoteProtocolError(f"{self._peer_name} refused the secure channel: {refuse.reason}")

    def _on_ready(self, message: object, sender: Route, now: float) -> Event:
        if self.state is ESTABLISHED:
            return None  # a Heartbeat; _open counted its arrival
        self._last_received = self._last_sent = now
        remote = self.remote_identity
        assert remote is not None  # verified in Answer
        return Established(remote, subject=self.subject(now))

    def _on_present(self, present: Present, sender: Route, now: float) -> Event:
        trust = self.settings.trust
        remote = self.remote_identity
        if trust is None:
            return None  # this end believes no credential, so it has no use for one
        assert remote is not None  # frames are read only after the identity is verified
        try:
            credential = Credential.decode(present.credential)
            data = trust.verify(credential, subject=remote.identifier)
        except CredentialError as exc:
            raise MessageDropped(
                f"a credential from {remote.identifier}, refused: {exc}",
                reason=DropReason.CREDENTIAL_REFUSED,
            ) from None
        self.remote_credential, self.remote_issuer = data, credential.issuer
        return Presented(Subject.from_credential(data), float(data.expires))

    def _on_close(self, message: object, sender: Route, now: float) -> Event:
        return Closed("the other end closed it", by_peer=True)

    def _on_heartbeat_due(self, message: object, sender: Route, now: float) -> Event:
        self._last_sent = now
        return Transmit(self._encrypt(Heartbeat()))

    def _on_silence(self, message: object, sender: Route, now: float) -> Event:
        return Closed(
            f"no traffic received from {self._peer_name} for "
            f"{self.settings.keepalive_timeout:g} s; the other end is gone or unreachable",
            by_peer=False,
        )

    def _on_handshake_timeout(self, message: object, sender: Route, now: float) -> Event:
        raise RemoteProtocolError(
            f"the {'listener' if self.role == 'initiator' else 'initiator'} at {self.route} "
            f"did not finish the handshake within {self._handshake_timeout:g} s"
        )

    def _on_nothing(self, message: object, sender: Route, now: float) -> Event:
        return None

    # --- helpers ----------------------------------------------------------------------------

    def _verify(self, handshake: HandshakeState, message: bytes) -> IdentityPublic:
        """Read XX message 2 or 3, verify the identity proof it carries, and authorize it."""
        try:
            payload = handshake.read_message(message)
            static = handshake.remote_static
            assert static is not None  # XX messages 2 and 3 carry the sender's static key
            remote = IdentityProof.decode(payload).verify(static)
        except (NoiseError, IdentityError) as exc:
            raise self._failed(f"the handshake with {self._peer_name} failed: {exc}") from None
        self.remote_identity = remote
        if self.authorized and remote.identifier not in self.authorized:
            raise unauthorized(
                self.role,
                remote.identifier,
                authorized=self.authorized,
                listener=self.listener,
                own_identifier=self.settings.identity.identifier,
            )
        return remote

    def _present_frame(self, *, inside: bool = False) -> bytes | None:
        """This end's valid credential as an encrypted `Present` frame (`inside`: the bare
        transport frame, which `Finish` carries), if it has one."""
        trust = self.settings.trust
        credential = None if trust is None else trust.presentable()
        if credential is None:
            return None
        present = Present(credential.encode())
        return self._seal(present) if inside else self._encrypt(present)

    def _failed(self, reason: str) -> RemoteProtocolError:
        return RemoteProtocolError(reason, refusal=encode(Refuse(reason)))

    def _require_handshake(self) -> HandshakeState:
        handshake = self._handshake
        assert handshake is not None  # the table lets handshake messages in only before split
        return handshake

    def _split(self, handshake: HandshakeState) -> None:
        send, receive = handshake.split()
        self._encryptor = ChannelEncryptor(send)
        self._decryptor = ChannelDecryptor(receive)
        self._handshake = None

    def _open(self, frame: bytes, now: float) -> InnerMessage:
        """Decrypt and decode one frame; counts it, and its arrival if it authenticated."""
        decryptor = self._decryptor
        assert decryptor is not None  # AWAIT_READY and ESTABLISHED have keys
        try:
            inner = inner_decoder.decode(decryptor.decrypt(frame))
        except DecryptionError as exc:
            self.frames_dropped += 1
            raise MessageDropped(f"a frame ({exc.reason}): {exc}", reason=exc.reason) from None
        except msgspec.DecodeError as exc:
            self.frames_dropped += 1
            raise MessageDropped(
                f"an authenticated but malformed frame: {exc}", reason=DropReason.MALFORMED
            ) from None
        self.frames_received += 1
        self._last_received = now
        return inner

    def _seal(self, message: InnerMessage) -> bytes:
        """`message` as one transport frame (counted as sent)."""
        encryptor = self._encryptor
        assert encryptor is not None  # called only once keys are split
        self.frames_sent += 1
        return encryptor.encrypt(encode(message))

    def _encrypt(self, message: InnerMessage) -> bytes:
        return encode(Encrypted(self._seal(message)))

    def _refuse_input(self, kind: Input) -> LocalProtocolError:
        error = LocalProtocolError(
            f"cannot {kind.value} on a secure channel {self.role} that is {self.state.value}"
        )
        self.state = ERROR
        return error

    @property
    def _peer_name(self) -> str:
        return f"the listener at {self.route}" if self.role == "initiator" else "the initiator"


_HANDLERS: Final[dict[type | Input, Callable[..., Event]]] = {
    Hello: ChannelMachine._on_hello,
    Answer: ChannelMachine._on_answer,
    Finish: ChannelMachine._on_finish,
    Refuse: ChannelMachine._on_refuse,
    Ready: ChannelMachine._on_ready,
    Deliver: ChannelMachine._on_nothing,  # receive() returns a Deliver before the table
    Heartbeat: ChannelMachine._on_ready,  # establishes in AWAIT_READY, like Ready
    Close: ChannelMachine._on_close,
    Present: ChannelMachine._on_present,
    Input.START: ChannelMachine._on_nothing,
    Input.SEND: ChannelMachine._on_nothing,  # send() encrypts before the table
    Input.HEARTBEAT: ChannelMachine._on_heartbeat_due,
    Input.SILENCE: ChannelMachine._on_silence,
    Input.HANDSHAKE_TIMEOUT: ChannelMachine._on_handshake_timeout,
    Input.CLOSE: ChannelMachine._on_nothing,
    Input.PRESENT: ChannelMachine._on_nothing,  # present() encrypts after the table
}
