"""Every feature of the `ockam` command, in one list: their commands go on the app, their
control requests and hooks make the `NodeApi` that node processes serve.

This is the only module that imports the feature modules; none of them imports it.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import (
    _authority,
    _credential,
    _enroll,
    _identity,
    _message,
    _node,
    _policy,
    _portal,
    _project,
    _relay,
    _reset,
    _secure_channel,
    _service,
    _transport,
    _vault,
)
from ._app import app, run_app
from ._feature import Feature, NodeApi

FEATURES: tuple[Feature, ...] = (
    _node.FEATURE,
    # Before the portals: a node restores its policies before any outlet could serve.
    _policy.FEATURE,
    _portal.FEATURE,
    _message.FEATURE,
    _service.FEATURE,
    _relay.FEATURE,
    _secure_channel.FEATURE,
    _credential.FEATURE,  # its setup (a node's trust) needs the secure channels'
    # After the secure channels: an authority node replaces their listener `api`.
    _authority.FEATURE,
    # After the credential feature: a project node's setup needs the node's trusted channels.
    _enroll.FEATURE,
    _project.FEATURE,
    _identity.FEATURE,
    _vault.FEATURE,
    _transport.FEATURE,
    _reset.FEATURE,
)
"""Every feature, in the order `ockam --help` lists their commands and node processes run
their setup and shutdown hooks."""

for _feature in FEATURES:
    for _group in _feature.commands:
        app.command(_group)

NODE_API = NodeApi(FEATURES)
"""The control API every node process serves: all the features' requests."""


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `ockam` console script."""
    run_app(argv, provide={"api": NODE_API, "create_node": _node.create})
