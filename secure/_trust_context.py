"""`TrustContext`: what a node trusts and what it presents in its secure channels.

A node with a trust context presents its own credential (if it has an unexpired one) to the
other end of each secure channel, and verifies the one the other end presents against the
authorities it trusts; the verified attributes become the channel's subject (see
`SecureChannelWorker.subject`). Without one (None in `ChannelSettings.trust`), a channel
presents nothing and its subjects carry only the identifier.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from actors import Route

from ._channel_info import check_identifier
from ._credential import (
    DEFAULT_CREDENTIAL_SCOPE,
    Credential,
    CredentialData,
    CredentialIssuerError,
    verify_credential,
)
from ._identity import IdentityPublic


class TrustContext:
    """The authorities a node trusts, its own credential, and where to fetch a fresh one.

    Args:
        authorities: The trusted authorities: exported identities or identifiers (a
            credential carries its issuer's key, so the identifier is enough to verify it).
        credential: The node's own credential, presented in its channels; None until one is
            stored or fetched.
        scope: The scope a credential must have been issued for.
        authority_route: The route to the authority's secure channel listener (e.g.
            ``/ip4/127.0.0.1/tcp/4000/service/api``), for a node that fetches its own
            credential (`CredentialRefresher`); None if it does not.
        clock: The wall clock credentials are checked against (seconds since the Unix epoch);
            tests pass a fake one.

    Raises:
        ValueError: An authority identifier is malformed, or there is none.
    """

    def __init__(
        self,
        authorities: Iterable[IdentityPublic | str],
        *,
        credential: Credential | None = None,
        scope: str = DEFAULT_CREDENTIAL_SCOPE,
        authority_route: Route | str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.authorities: frozenset[str] = frozenset(
            a.identifier if isinstance(a, IdentityPublic) else check_identifier(a)
            for a in authorities
        )
        if not self.authorities:
            raise ValueError("a trust context needs at least one trusted authority")
        self.credential = credential
        self.scope = scope
        self.authority_route = (
            Route.parse(authority_route) if isinstance(authority_route, str) else authority_route
        )
        self.clock = clock

    def __repr__(self) -> str:
        return f"<TrustContext authorities={sorted(self.authorities)} scope={self.scope!r}>"

    def presentable(self) -> Credential | None:
        """The node's own credential if it is still valid now; None otherwise (an expired one
        is not presented: the other end would refuse it)."""
        credential = self.credential
        if credential is None:
            return None
        if credential.unverified_data().is_expired(self.clock()):
            return None
        return credential

    def verify(self, credential: Credential | bytes, *, subject: str) -> CredentialData:
        """Verify a credential `subject` presented, against the trusted authorities, now.

        Raises:
            CredentialError: It does not decode, its issuer is not trusted, its signature
                fails, it is about another identity, has another scope, or has expired (the
                subclass says which).
        """
        if not isinstance(credential, Credential):
            credential = Credential.decode(credential)
        issuer = credential.issuer
        if issuer not in self.authorities:
            raise CredentialIssuerError(
                f"credential was issued by {issuer}, which is not a trusted authority "
                f"(trusted: {', '.join(sorted(self.authorities))})"
            )
        return verify_credential(
            credential, issuer_identity=issuer, now=self.clock(), subject=subject, scope=self.scope
        )
