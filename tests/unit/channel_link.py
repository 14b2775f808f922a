"""Two secure channel ends (`ChannelMachine`s) joined by a fake link, on a fake clock.

As in h11's ``tests/helpers.py``: nothing runs by itself. The test carries each message across
(`to_responder`, `to_initiator`), so it can also drop, repeat, reorder, truncate or replace
any of them, and moves the clock (`now`) by hand.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from actors import route
from secure import (
    Admit,
    ChannelMachine,
    ChannelSettings,
    ChannelState,
    Deliver,
    Encrypted,
    Established,
    Event,
    Finish,
    Identity,
    Presented,
    Transmit,
    TrustContext,
    encode_channel_message,
)
from secure._channel_protocol import outer_decoder

ALICE = Identity.generate()
"""The initiator's identity."""

BOB = Identity.generate()
"""The responder's identity."""

TO_LISTENER = route("relay", "api")
"""The route the initiator opens its channel along."""

FROM_INITIATOR = route("relay", "initiator-ciphertext")
"""The return route of every message from the initiator, as the responder sees it."""

FROM_RESPONDER = route("relay", "responder-ciphertext")
"""The return route of every message from the responder, as the initiator sees it."""

INTERVAL = 5.0
TIMEOUT = 15.0
HANDSHAKE = 10.0


def settings_for(identity: Identity, trust: TrustContext | None = None) -> ChannelSettings:
    """The test's settings for an end proving `identity`, with `trust` if given."""
    return ChannelSettings(
        identity,
        handshake_timeout=HANDSHAKE,
        keepalive_interval=INTERVAL,
        keepalive_timeout=TIMEOUT,
        trust=trust,
    )


class Link:
    """An initiator and a responder, and the clock they share.

    Args:
        initiator_authorizes: Identifiers the initiator accepts (empty: any).
        responder_authorizes: Identifiers the responder (its listener) accepts.
        initiator_trust, responder_trust: Each end's trust context (None: no trust).
        admit: The responder's (its listener's) admission check (None: admits all).
    """

    def __init__(
        self,
        *,
        initiator_authorizes: Iterable[str] = (),
        responder_authorizes: Iterable[str] = (),
        initiator_trust: TrustContext | None = None,
        responder_trust: TrustContext | None = None,
        admit: Admit | None = None,
    ) -> None:
        self.now = 0.0
        self.initiator = ChannelMachine(
            "initiator",
            settings_for(ALICE, initiator_trust),
            route=TO_LISTENER,
            authorized=frozenset(initiator_authorizes),
        )
        self.responder = ChannelMachine(
            "responder",
            replace(settings_for(BOB, responder_trust), admit=admit),
            authorized=frozenset(responder_authorizes),
            listener="api",
        )
        self.sent: dict[str, bytes] = {}
        """Each message of `handshake` and `exchange`, by name, to replay anywhere."""

    def to_responder(self, data: bytes) -> Event:
        """Deliver `data` from the initiator to the responder."""
        return self.responder.receive(data, FROM_INITIATOR, self.now)

    def to_initiator(self, data: bytes) -> Event:
        """Deliver `data` from the responder to the initiator."""
        return self.initiator.receive(data, FROM_RESPONDER, self.now)

    def handshake(self, *, until: str = "") -> dict[str, bytes]:
        """Run the handshake, keeping each message in `sent` (hello, answer, finish, ready,
        and each end's credential frame when it presents one: ``initiator credential``, the
        one inside finish (as a separate `Encrypted` frame, already delivered with finish),
        ``responder credential`` before ready); both ends are then established.
        With `until`, stop once that message is written, before it is delivered."""
        sent = self.sent
        sent["hello"] = self.initiator.start(self.now)
        steps = (
            ("hello", self.to_responder, "answer"),
            ("answer", self.to_initiator, "finish"),
            ("finish", self.to_responder, "ready"),
            ("responder credential", self.to_initiator, ""),
            ("ready", self.to_initiator, ""),
        )
        for name, deliver, reply in steps:
            if name == until:
                return sent
            if name not in sent:
                continue  # that end presents no credential
            event = deliver(sent[name])
            if name.endswith("credential"):
                assert event is None or isinstance(event, Presented)
                continue
            assert isinstance(event, Transmit | Established)
            if reply == "finish" and isinstance(event, Transmit):
                finish = outer_decoder.decode(event.data)
                assert isinstance(finish, Finish)
                if finish.credential is not None:
                    sent["initiator credential"] = encode_channel_message(
                        Encrypted(finish.credential)
                    )
            if isinstance(event, Established) and event.credential is not None:
                sent["responder credential"] = event.credential
            if reply:
                assert event.data is not None
                sent[reply] = event.data
        assert self.initiator.state is self.responder.state is ChannelState.ESTABLISHED
        return sent

    def exchange(self) -> dict[str, bytes]:
        """`handshake`, then one message each way (``deliver`` from the initiator,
        ``reply`` from the responder) and a ``heartbeat`` from the initiator."""
        messages = self.handshake()
        messages["deliver"] = self.initiator.send(route("echo").addresses, (), b"ping", self.now)
        assert isinstance(self.to_responder(messages["deliver"]), Deliver)
        messages["reply"] = self.responder.send(FROM_INITIATOR.addresses, (), b"pong", self.now)
        assert isinstance(self.to_initiator(messages["reply"]), Deliver)
        self.now += INTERVAL
        heartbeat = self.initiator.tick(self.now)
        assert isinstance(heartbeat, Transmit)
        messages["heartbeat"] = heartbeat.data
        assert self.to_responder(messages["heartbeat"]) is None
        return self.sent
