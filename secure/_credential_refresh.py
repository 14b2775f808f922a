"""Keeping a node's own credential fresh: when to ask (`RefreshSchedule`, sans-IO) and the
actor that asks (`CredentialRefresher`).

A node whose trust context has an authority route fetches its credential from the authority
(`AuthorityClient.issue_credential`, over a secure channel that must prove a trusted
authority's identity) when it starts, and again at `RefreshSchedule.fraction` (80 %) of each
credential's lifetime; a failed attempt is retried after 1 s, 2 s, 4 s … up to a minute, but
always at least twice more before the current credential expires. Each fresh credential
becomes the trust context's and is presented on every established channel
(`SecureChannels.present_credential`), where it replaces the old one at the other end.
"""

from __future__ import annotations

import logging

import trio

from actors import Actor, OckamError

from ._authority_client import AuthorityClient
from ._channels import SecureChannels
from ._credential import Credential, CredentialData, CredentialError

log = logging.getLogger("ockam.secure")

REFRESH_FRACTION = 0.8
"""How far into a credential's lifetime a fresh one is fetched."""

FIRST_RETRY = 1.0
"""Seconds before the first retry after a failed fetch; each further failure doubles it."""

MAX_RETRY = 60.0
"""The longest wait between two attempts after failures."""


class RefreshSchedule:
    """When to fetch the next credential, from what the last attempt gave (sans-IO; times are
    seconds since the Unix epoch).

    Args:
        fraction: How far into a credential's lifetime to fetch the next one (0 < f < 1).
        first_retry: Seconds before the first retry after a failure.
        max_retry: The longest wait between attempts after failures.

    Attributes:
        failures: Failed attempts since the last success.
    """

    def __init__(
        self,
        *,
        fraction: float = REFRESH_FRACTION,
        first_retry: float = FIRST_RETRY,
        max_retry: float = MAX_RETRY,
    ) -> None:
        if not 0 < fraction < 1:
            raise ValueError(f"fraction must be between 0 and 1, got {fraction!r}")
        if not 0 < first_retry <= max_retry:
            raise ValueError(
                f"retries need 0 < first_retry <= max_retry, got {first_retry!r}, {max_retry!r}"
            )
        self.fraction, self.first_retry, self.max_retry = fraction, first_retry, max_retry
        self.failures = 0

    def after_success(self, data: CredentialData, now: float) -> float:
        """When to fetch again, having just got the credential `data` states."""
        self.failures = 0
        return max(now, data.created + self.fraction * (data.expires - data.created))

    def after_failure(self, now: float, current: CredentialData | None) -> float:
        """When to try again after a failed attempt, holding `current` (if any)."""
        delay: float = min(self.max_retry, self.first_retry * 2.0 ** min(self.failures, 32))
        self.failures += 1
        if current is not None and not current.is_expired(now):
            # Leave room for two more attempts before the credential lapses.
            delay = min(delay, max(self.first_retry, (current.expires - now) / 3))
        return now + delay


class CredentialRefresher(Actor):
    """Fetches this node's credential from its authority and keeps it fresh (see the module
    docstring). It takes no messages.

    Args:
        channels: The node's channels; their trust context must have an authority route.
        schedule: When to fetch (default: `RefreshSchedule()`).
        timeout: Seconds each fetch (channel and request) may take.

    Attributes:
        fetched: How many credentials it fetched.
        last_error: Why the last attempt failed, if it did.

    Raises:
        ValueError: The channels have no trust context, or it has no authority route.
    """

    def __init__(
        self,
        channels: SecureChannels,
        *,
        schedule: RefreshSchedule | None = None,
        timeout: float = 10,
    ) -> None:
        trust = channels.trust
        if trust is None or trust.authority_route is None:
            raise ValueError("a credential refresher needs a trust context with an authority route")
        self.channels = channels
        self.trust = trust
        self.authority_route = trust.authority_route
        self.schedule = schedule or RefreshSchedule()
        self.timeout = timeout
        self.fetched = 0
        self.last_error: str | None = None
        self._changed = trio.Event()

    @property
    def changed(self) -> trio.Event:
        """Set after the next attempt (fetched or failed); a fresh event replaces it."""
        return self._changed

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._keep_fresh)
            await super().run(task_status=task_status)

    async def fetch(self) -> Credential:
        """Ask the authority for a fresh credential and make it this node's (presented on
        every established channel).

        Raises:
            SecureChannelError: No channel to the authority, or its credential is refused.
            AuthorityError: The authority refused or did not answer.
        """
        with trio.fail_after(self.timeout):
            client = await AuthorityClient.connect(
                self.channels, self.authority_route, self.trust.authorities, timeout=self.timeout
            )
            credential = await client.issue_credential()
            await self.channels.present_credential(credential)
        return credential

    async def _keep_fresh(self) -> None:
        clock = self.trust.clock
        while True:
            try:
                credential = await self.fetch()
            except (OckamError, CredentialError, trio.TooSlowError) as exc:
                self.last_error = str(exc) or "the authority took too long"
                held = self.trust.credential
                at = self.schedule.after_failure(
                    clock(), None if held is None else held.unverified_data()
                )
                log.warning(
                    "could not fetch this node's credential from %s (retrying in %.0f s): %s",
                    self.authority_route,
                    at - clock(),
                    self.last_error,
                )
            else:
                self.fetched += 1
                self.last_error = None
                data = credential.unverified_data()  # verified by present_credential
                at = self.schedule.after_success(data, clock())
                log.info(
                    "fetched this node's credential from %s; valid until %d, next at %.0f",
                    self.authority_route,
                    data.expires,
                    at,
                )
            changed, self._changed = self._changed, trio.Event()
            changed.set()
            await trio.sleep(max(0.0, at - clock()))
