"""The `ockam` command's core: the cyclopts app, the options every command shares, asking a
node, and error handling. It knows no feature: `cli._features` puts their commands on `app`."""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, TypeVar

import cyclopts
import msgspec
import trio
from cyclopts import App, Parameter

from actors import OckamError, unwrap_group

from ._control import Request, call
from ._lifecycle import default_record
from ._output import OutputFormat, Printer, error
from ._routes import node_name, resolve_route
from ._state import NodeRecord, StateStore

T = TypeVar("T")

DISTRIBUTION = "trio-ockam"
"""The distribution (pyproject.toml's `name`) whose version `ockam --version` prints."""


def package_version() -> str:
    """`ockam --version`: Ockam's first line (`ockam 0.1.0`), with this package's version."""
    try:
        return f"ockam {version(DISTRIBUTION)}"
    except PackageNotFoundError:
        return "ockam (version unknown: the trio-ockam distribution is not installed)"


app = App(
    name="ockam",
    help="Ockam nodes, relays, portals and secure channels, on Trio.",
    version=package_version,
    version_flags=["--version"],
)


@Parameter(name="*")
@dataclass(frozen=True)
class Common:
    """Options every command takes."""

    output: Annotated[OutputFormat, Parameter(help="Output format: plain or json.")] = "plain"
    quiet: Annotated[bool, Parameter(help="Print nothing but errors.", negative="")] = False
    verbose: Annotated[
        bool, Parameter(help="Show debug logs and tracebacks on errors.", negative="")
    ] = False

    def __post_init__(self) -> None:
        # Parsed before the command runs: `--verbose` shows the logs and the traceback of
        # whatever the command does, from its first line on.
        if self.verbose:
            logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
            logging.getLogger("ockam").setLevel(logging.DEBUG)
            _State.verbose = True

    def printer(self) -> Printer:
        """A printer for this command's output."""
        return Printer(self.output, quiet=self.quiet)


DEFAULT = Common()

RouteOption = Annotated[str, Parameter(allow_leading_hyphen=True)]
"""A route option: it may start with '-', the piped route (`--to -/service/uppercase`)."""

NODE_FLAGS = ("--at", "--node")
"""The flags that name the node a command asks (`--node` is the seeds' older spelling)."""


def node_option(flags: Sequence[str] = NODE_FLAGS) -> Any:
    """The annotation of an option naming the node a command asks, under `flags`."""
    return Annotated[
        str | None, Parameter(name=list(flags), help="The node (default: the default node).")
    ]


NodeOption = Annotated[
    str | None, Parameter(name=list(NODE_FLAGS), help="The node (default: the default node).")
]
"""`--at NODE` (or the seeds' `--node NODE`)."""


YesOption = Annotated[
    bool, Parameter(name=["--yes", "-y"], negative="", help="Do not ask for confirmation.")
]
"""`--yes`/`-y`: delete without asking."""


def confirm(question: str, *, yes: bool) -> None:
    """Ask `question` (y/N) when both ends are a terminal and `yes` is not given.

    Raises:
        OckamError: The answer was not yes.
    """
    if yes or not (sys.stdin.isatty() and sys.stdout.isatty()):
        return
    if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
        raise OckamError("nothing deleted")


class _State:
    verbose = False


def command_group(name: str, help: str, *, show: bool = True) -> App:
    """A command group (`ockam NAME ...`); `cli._features` puts it on the root app."""
    return App(name=name, help=help, show=show)


def store() -> StateStore:
    """The state store of `$OCKAM_HOME`."""
    return StateStore()


def target_node(state: StateStore, value: str | None, *, start: bool = False) -> NodeRecord:
    """The record of the node named by `--at`/`--from`/`--to` (`n1` or `/node/n1`), or of
    the default node when None. With `start`, a default node is created when there is no
    node at all (Ockam's commands that create something do so)."""
    if value is None:
        return default_record(state, start=start)
    return state.get(node_name(value))


async def ask(state: StateStore, record: NodeRecord, request: Request, result: type[T]) -> T:
    """Send a control request to a node and decode its result."""
    return await call(state.socket_path(record.name), request, result, node=record.name)


def ask_node(
    node: str | None, request: Request, result: type[T], *, start: bool = False
) -> tuple[NodeRecord, T]:
    """Send `request` to the node named by `--at`/`--from`/`--to` (`n1` or `/node/n1`; the
    default node when None, created first with `start` when there is none); returns the
    node's record and the decoded result."""
    state = store()
    record = target_node(state, node, start=start)
    return record, run(lambda: ask(state, record, request, result))


def resolved(route: str) -> str:
    """`route` with `/node/NAME` and `-` resolved, as text for a node."""
    return str(resolve_route(route, store()))


def run(main: Callable[[], Awaitable[T]]) -> T:
    """Run an async command body under Trio."""
    return trio.run(main)


def to_builtins(value: Any) -> Any:
    """msgspec structs as plain data, for JSON output."""
    return msgspec.to_builtins(value)


def run_app(argv: Sequence[str] | None, *, provide: Mapping[str, object]) -> None:
    """Run the command in `argv` (default: `sys.argv`), turning every error into one line.

    A command parameter declared `Parameter(parse=False)` is not read from the command line;
    it gets the value of the same name in `provide` (`node create` gets the node's control
    API this way, so that no feature has to import the module that gathers them all).
    """
    # A command prints its result and at most one error line; node processes log to their
    # log file (`node create --foreground` turns logging on), and `--verbose` shows it all.
    logging.getLogger("ockam").setLevel(logging.CRITICAL)
    tokens = list(sys.argv[1:] if argv is None else argv)
    try:
        command, bound, provided = app.parse_args(tokens, exit_on_error=False, print_error=False)
        command(*bound.args, **bound.kwargs, **{name: provide[name] for name in provided})
    except cyclopts.CycloptsError as exc:
        error(" ".join(str(exc).split()))
        sys.exit(2)

    except BaseExceptionGroup as group:
        _fail(unwrap_group(group))
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        _fail(exc)


def _fail(exc: BaseException) -> None:
    if isinstance(exc, KeyboardInterrupt):
        sys.exit(130)
    if isinstance(exc, SystemExit):
        raise exc
    if _State.verbose:
        import traceback

        traceback.print_exception(exc)
    if isinstance(exc, (OckamError, ValueError, LookupError, OSError)):
        message = str(exc) or type(exc).__name__
    else:
        message = f"internal error: {type(exc).__name__}: {exc} (run with --verbose for details)"
    error(" ".join(message.split()))
    sys.exit(1)
