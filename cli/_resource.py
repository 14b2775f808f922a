"""A node's resources (outlets, inlets, relays, channels...): one path for list, show, delete.

A feature declares each kind of thing its nodes hold as a `Resource`: how a node finds its
items, and how the CLI prints them. `add_commands` puts `list`, `show` and `delete` on the
feature's command group; each sends one of three generic requests (`ListResources`,
`ShowResource`, `DeleteResource`, naming the resource's `kind`), which the node answers
through `resource_handlers`, and prints the answer as a table, JSON or bare values.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, NamedTuple, TypeVar

from cyclopts import App, Parameter

from ._app import DEFAULT, NODE_FLAGS, Common, YesOption, ask_node, node_option, to_builtins
from ._control import ControlError, Empty, Request
from ._controller import Handler, NodeController

I = TypeVar("I")  # noqa: E741  (an item's info struct)


class ListResources(Request, frozen=True, tag="resource-list"):
    """Every item of one kind of resource (`tcp-outlet`, `relay`...) on the node."""

    kind: str


class ShowResource(Request, frozen=True, tag="resource-show"):
    """One item of a kind of resource, by its key (an address, an alias, a name)."""

    kind: str
    key: str


class DeleteResource(Request, frozen=True, tag="resource-delete"):
    """Delete (stop, close) one item of a kind of resource, by its key."""

    kind: str
    key: str


RESOURCE_REQUESTS: tuple[type[Request], ...] = (ListResources, ShowResource, DeleteResource)
"""The control requests of every resource."""


def _same(key: str) -> str:
    return key


class Key(NamedTuple):
    """How `show` and `delete` name one item: the argument's name and help, and how the CLI
    turns what the user typed into the key the node gets (`/service/outlet` → `outlet`)."""

    name: str
    help: str
    parse: Callable[[str], str] = _same


@dataclass(frozen=True, kw_only=True)
class Resource(Generic[I]):
    """A kind of thing a node holds, and how `list`, `show` and `delete` reach and print it.

    Node side: `items` lists them, `keys` says which keys an item answers to (`show` finds
    it by them), `remove` deletes one. CLI side: a table of `columns` (an item's cells:
    `row`) on a terminal, one `line` per item in a pipe; `show` prints `shown` (default:
    `line`) in a pipe and `pretty` (given the node's name) on a terminal.
    """

    noun: str
    """What one item is called in messages: `TCP outlet`; the command group is named after it
    (`tcp-outlet`, its `kind`), and so is the table (`TCP outlets`)."""
    info: type[I]
    columns: Sequence[str]
    """The headers of the table `list` prints on a terminal."""
    row: Callable[[I], Sequence[str]]
    """An item's cells in that table."""
    items: Callable[[NodeController], Sequence[I]]
    keys: Callable[[I], Sequence[str]]
    key: Key
    created: tuple[str, str] = ("", "")
    """What `create` prints, in a pipe and on a terminal: `str.format` templates of the new
    item `i` and the node's name `node` (`"{i.address}"`)."""
    remove: Callable[[NodeController, str], bool] | None = None
    """Delete one item: False when there is none. None: items cannot be deleted (no command)."""
    line: Callable[[I], str]
    shown: Callable[[I], str] | None = None
    pretty: Callable[[I, str], str] | None = None
    node_flags: Sequence[str] = NODE_FLAGS
    empty: str = ""
    """What `list` prints on a terminal when there are none; `{node}` is the node's name."""
    help: Mapping[str, str] | None = None
    """Each verb's help, when it says more than the default."""
    view: Callable[[I, str], Any] | None = None
    """An item (and its node's name) in Ockam's JSON shape (`cli._ockam_views`): what
    `create`, `list` and `show` print with `--output json`. None: the info struct itself."""
    show_view: Callable[[I, str], Any] | None = None
    """What `show` prints with `--output json`, when Ockam's differs from `view`'s."""

    def json(self, info: I, node: str, *, show: bool = False) -> Any:
        """`info` as `--output json` prints it."""
        view = (self.show_view or self.view) if show else self.view
        return to_builtins(info if view is None else view(info, node))

    @property
    def kind(self) -> str:
        """The name of the command group and of the resource in requests: `tcp-outlet`."""
        return self.noun.lower().replace(" ", "-")

    @property
    def title(self) -> str:
        """The table's title: `TCP outlets`."""
        return f"{self.noun[0].upper()}{self.noun[1:]}s"

    def find(self, controller: NodeController, key: str) -> I | None:
        """The item that answers to `key`, if any."""
        return next((i for i in self.items(controller) if key in self.keys(i)), None)

    def create(
        self,
        at: str | None,
        request: Request,
        common: Common,
        /,
        *,
        pretty: str = "",
        **extra: str,
    ) -> I:
        """Send a create `request` to the node `at` names and print the item it made, as the
        `created` templates say (or `pretty` on a terminal; `extra` fills their other
        fields)."""
        printer = common.printer()
        record, info = ask_node(at, request, self.info, start=True)
        plain, pretty = self.created[0], pretty or self.created[1]
        fields = {"i": info, "node": record.name, **extra}
        printer.emit(
            plain=plain.format(**fields),
            data=self.json(info, record.name),
            pretty=pretty.format(**fields),
        )
        return info

    def list(self, at: str | None, common: Common) -> None:
        """`ockam KIND list`: the items of the node `at` names."""
        printer = common.printer()
        of_items: Any = list.__class_getitem__(self.info)
        record, items = ask_node(at, ListResources(self.kind), of_items)
        printer.table(
            title=self.title,
            columns=self.columns,
            rows=[self.row(item) for item in items],
            data=[self.json(item, record.name) for item in items],
            plain_rows=[self.line(item) for item in items],
            empty=self.empty.format(node=record.name),
        )

    def show(self, key: str, at: str | None, common: Common) -> None:
        """`ockam KIND show KEY`: one item."""
        printer = common.printer()
        record, info = ask_node(at, ShowResource(self.kind, self.key.parse(key)), self.info)
        pretty = None if self.pretty is None else self.pretty(info, record.name)
        shown = self.line if self.shown is None else self.shown
        printer.emit(plain=shown(info), data=self.json(info, record.name, show=True), pretty=pretty)

    def delete(self, key: str, at: str | None, common: Common) -> None:
        """`ockam KIND delete KEY`: delete one item; prints the key as given."""
        printer = common.printer()
        record, _ = ask_node(at, DeleteResource(self.kind, self.key.parse(key)), Empty)
        printer.emit(
            plain=key,
            data={"deleted": key, "node": record.name},
            pretty=f"[green]✔︎[/green] Deleted {self.noun} {key} on node {record.name}",
        )

    def describe(self, verb: str) -> str:
        """The help of `ockam KIND VERB`."""
        if self.help is not None and verb in self.help:
            return self.help[verb]
        if verb == "list":
            return f"List a node's {self.noun}s."
        return f"{verb.capitalize()} one {self.noun}, by {self.key.name}."


def add_commands(group: App, resource: Resource[Any]) -> None:
    """Put `resource`'s `list`, `show` and `delete` commands on `group`."""
    at = inspect.Parameter(
        "at",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=node_option(resource.node_flags),
    )
    common = inspect.Parameter(
        "common", inspect.Parameter.KEYWORD_ONLY, default=DEFAULT, annotation=Common
    )
    yes = inspect.Parameter(
        "yes", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=YesOption
    )
    key = inspect.Parameter(
        resource.key.name,
        inspect.Parameter.POSITIONAL_ONLY,
        annotation=Annotated[str, Parameter(help=resource.key.help)],
    )

    def list_(*, at: str | None = None, common: Common = DEFAULT) -> None:
        resource.list(at, common)

    def show(key: str, /, *, at: str | None = None, common: Common = DEFAULT) -> None:
        resource.show(key, at, common)

    def delete(
        key: str, /, *, at: str | None = None, yes: bool = False, common: Common = DEFAULT
    ) -> None:
        # `--yes` is accepted, as on Ockam's deletes; one named item is deleted without asking.
        resource.delete(key, at, common)

    commands: list[tuple[str, Callable[..., None], list[inspect.Parameter]]] = [
        ("list", list_, [at, common]),
        ("show", show, [key, at, common]),
    ]
    if resource.remove is not None:
        commands.append(("delete", delete, [key, at, yes, common]))
    for verb, function, parameters in commands:
        # cyclopts reads the command's parameters and help from its signature and docstring:
        # these carry the resource's names (`ALIAS`, `--from`) instead of the generic ones.
        function.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
        function.__annotations__ = {p.name: p.annotation for p in parameters}
        function.__doc__ = resource.describe(verb)
        group.command(function, name=verb)


def resource_handlers(resources: Mapping[str, Resource[Any]]) -> dict[type[Request], Handler]:
    """The node's handlers of the three resource requests, for the resources by kind."""

    def lookup(kind: str) -> Resource[Any]:
        resource = resources.get(kind)
        if resource is None:
            raise ControlError(f"this node has no resources of kind {kind!r}")
        return resource

    async def list_(c: NodeController, r: ListResources) -> Sequence[Any]:
        return lookup(r.kind).items(c)

    async def show(c: NodeController, r: ShowResource) -> Any:
        resource = lookup(r.kind)
        info = resource.find(c, r.key)
        if info is None:
            raise c.not_found(resource.noun, r.key)
        return info

    async def delete(c: NodeController, r: DeleteResource) -> Empty:
        resource = lookup(r.kind)
        if resource.remove is None:
            raise ControlError(f"a {resource.noun} cannot be deleted")
        if not resource.remove(c, r.key):
            raise c.not_found(resource.noun, r.key)
        return Empty()

    return {ListResources: list_, ShowResource: show, DeleteResource: delete}
