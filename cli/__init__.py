"""The `ockam` command line: node processes, their control API, and every command."""

from ._app import app as app
from ._control import ControlError as ControlError
from ._control import NodeNotRunning as NodeNotRunning
from ._features import main as main
from ._state import InvalidName as InvalidName
from ._state import NodeNotFound as NodeNotFound
from ._state import NodeRecord as NodeRecord
from ._state import StateStore as StateStore
