"""Exceptions of the runtime, each with a message a user can act on."""

from __future__ import annotations


class OckamError(Exception):
    """Base class of every error trio-ockam raises on purpose."""


class AddressInUse(OckamError):
    """A worker is already registered at that address on this node."""


class MailboxClosed(OckamError):
    """The worker behind a mailbox has stopped."""


class RequestTimeout(OckamError):
    """No reply came back along a route within the time allowed."""


class RouteNotFound(OckamError):
    """This node has no worker at an address of the route (a typo in a service name, a worker
    that has stopped): the message could not leave the node."""


class WorkerStopped(RouteNotFound):
    """The worker at that address has stopped: a late message for it, expected while the
    workers of a portal or a channel close one after the other."""


class ActorFailed(OckamError):
    """The actor that handled a request raised instead of replying (see `ErrorReply`)."""


class TransportError(OckamError):
    """A transport could not reach, or lost, its peer."""


class NodeStopped(OckamError):
    """The node is shutting down and takes no new work."""
