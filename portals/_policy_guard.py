"""`PolicyGuard`: whether one portal may open, and stay open, under its resource's policy.

Sans-IO, like `PortalState`: the shell hands it the policy in force and the wall-clock time,
and it answers with the decision and the time of the next check (`deadline`). The subject
comes from the portal's `SubjectSource` (the secure channel end the portal arrives through;
None when the first hop of its route is anything else: no channel, no subject, and a policy
about the subject denies).

A subject's attributes hold until its credential expires (`subject_expires`), so the guard's
deadline is that expiry; between checks nothing can change but the subject (a fresh
credential: the channel says so) and the policy (the store says so), and the shell checks
again on either. So the data path never looks at the policy.
"""

from __future__ import annotations

import math
from typing import Protocol

from secure import PolicyDecision, PolicyExpression, Subject, check_policy

from ._policy_store import Resource


class SubjectSource(Protocol):
    """Who a portal's messages come from: a secure channel end (`SecureChannelWorker`)."""

    def subject(self, now: float) -> Subject:
        """The verified subject at wall-clock time `now` (attributes only while unexpired)."""
        ...

    @property
    def subject_expires(self) -> float | None:
        """When the subject's attributes lapse (epoch seconds); None without a credential."""
        ...


class PolicyGuard:
    """The access check of one portal of one resource.

    The shell calls `check(policy, now=...)` when the portal opens, at `deadline`, and when the
    subject or the policy changed; it closes the portal (or refuses to open it) when the
    decision denies, and logs `refusal(...)`. Times are wall-clock seconds (`time.time()`), the
    clock credentials expire by.

    Attributes:
        resource: What the portal reaches.
        source: Where the subject comes from (None: no secure channel).
        deadline: When the next check is due (`math.inf`: none is, unless something changes).
        decision: The last check's outcome (None before the first).
    """

    __slots__ = ("deadline", "decision", "resource", "source")

    def __init__(self, resource: Resource, source: SubjectSource | None) -> None:
        self.resource = resource
        self.source = source
        self.deadline = math.inf
        self.decision: PolicyDecision | None = None

    @property
    def allowed(self) -> bool:
        """Whether the last check allowed (False before the first)."""
        return self.decision is not None and self.decision.allowed

    def subject(self, now: float) -> Subject | None:
        """The subject at `now`, or None without a secure channel."""
        return None if self.source is None else self.source.subject(now)

    def check(self, policy: PolicyExpression | None, *, now: float) -> PolicyDecision:
        """Decide at `now` under `policy` (None: the resource has no policy, so it allows).

        Allowed, the next check is due when the subject's credential expires (if it has one
        and it is still ahead); denied, none is: the portal is over.
        """
        self.deadline = math.inf
        if policy is None:
            self.decision = PolicyDecision(allowed=True)
            return self.decision
        decision = check_policy(policy, self.subject(now), resource=self.resource.facts())
        self.decision = decision
        if decision.allowed and self.source is not None:
            expires = self.source.subject_expires
            if expires is not None and expires > now:
                self.deadline = expires
        return decision

    def due(self, now: float) -> bool:
        """Whether a check is due at `now`."""
        return now >= self.deadline

    def refusal(self, policy: PolicyExpression | None, *, now: float) -> str:
        """The log line of a denial: the resource, the subject's identifier, the policy and why.

        Never a credential or a key: only the identifier and the expression are named.
        """
        subject = self.subject(now)
        who = "no secure channel" if subject is None else f"subject {subject.identifier}"
        reason = self.decision.reason if self.decision is not None else "not checked"
        return f"{self.resource}: {who}; policy `{policy}`: {reason}"
