"""Imports every command module, so each registers its commands on the app."""

from . import _cmd_node as _cmd_node
from . import _cmd_portal as _cmd_portal
from . import _cmd_routing as _cmd_routing
from . import _cmd_secure as _cmd_secure
from . import _cmd_transport as _cmd_transport
from . import _secure_control as _secure_control
