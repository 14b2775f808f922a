"""Built-in services (echo, uppercase, hop) and relays (the relay service, its workers, the
client that keeps a relay registered)."""

from ._builtin import BUILTIN_SERVICES as BUILTIN_SERVICES
from ._builtin import Echo as Echo
from ._builtin import Hop as Hop
from ._builtin import Uppercase as Uppercase
from ._builtin import start_service as start_service
from ._relay import RelayService as RelayService
from ._relay import RelayWorker as RelayWorker
from ._relay_client import RelayClient as RelayClient
from ._relay_client import RelayInfo as RelayInfo
from ._relay_client import start_relay as start_relay
from ._relay_protocol import RELAY_PREFIX as RELAY_PREFIX
from ._relay_protocol import RELAY_SERVICE as RELAY_SERVICE
from ._relay_protocol import STATIC_RELAY_SERVICE as STATIC_RELAY_SERVICE
from ._relay_protocol import RelayError as RelayError
from ._relay_protocol import check_relay_name as check_relay_name
