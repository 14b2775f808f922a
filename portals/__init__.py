"""TCP portals: inlets and outlets that carry TCP connections along routes, as Ockam's do.

Outlets and inlets may be guarded by policies (`PolicyStore`, by resource name and type):
a portal opens only through a secure channel whose subject satisfies the policy, and is
closed when it no longer does (`PolicyGuard` decides, `Enforcement` carries it out).
"""

from ._enforcement import Clock as Clock
from ._enforcement import Enforcement as Enforcement
from ._enforcement import subject_source as subject_source
from ._inlet import PING_TIMEOUT as PING_TIMEOUT
from ._inlet import InletListener as InletListener
from ._inlet import InletWorker as InletWorker
from ._inlet import Listen as Listen
from ._inlet import Refresh as Refresh
from ._manager import DEFAULT_OUTLET as DEFAULT_OUTLET
from ._manager import InletInfo as InletInfo
from ._manager import OutletInfo as OutletInfo
from ._manager import Portals as Portals
from ._messages import CHUNK as CHUNK
from ._messages import CREDIT_BATCH as CREDIT_BATCH
from ._messages import MAX_PAYLOAD as MAX_PAYLOAD
from ._messages import MAX_WINDOW as MAX_WINDOW
from ._messages import WINDOW as WINDOW
from ._messages import Blocked as Blocked
from ._messages import Credit as Credit
from ._messages import Disconnect as Disconnect
from ._messages import End as End
from ._messages import LocalPortalError as LocalPortalError
from ._messages import Payload as Payload
from ._messages import Ping as Ping
from ._messages import Pong as Pong
from ._messages import PortalError as PortalError
from ._messages import PortalMessage as PortalMessage
from ._messages import PortalProtocolError as PortalProtocolError
from ._messages import PortalTimeout as PortalTimeout
from ._messages import decode as decode
from ._messages import encode as encode
from ._outlet import CONNECT_TIMEOUT as CONNECT_TIMEOUT
from ._outlet import REFUSED as REFUSED
from ._outlet import Connect as Connect
from ._outlet import OutletListener as OutletListener
from ._outlet import OutletWorker as OutletWorker
from ._policy_guard import PolicyGuard as PolicyGuard
from ._policy_guard import SubjectSource as SubjectSource
from ._policy_store import TRUST_DEFAULT as TRUST_DEFAULT
from ._policy_store import Policy as Policy
from ._policy_store import PolicyStore as PolicyStore
from ._policy_store import Resource as Resource
from ._policy_store import ResourceType as ResourceType
from ._pollers import CarrierPoller as CarrierPoller
from ._pollers import carrier_poller as carrier_poller
from ._protocol import LINGER as LINGER
from ._protocol import Phase as Phase
from ._protocol import PortalState as PortalState
from ._protocol import Role as Role
from ._worker import PortalWorker as PortalWorker
