"""Secure channels' cryptographic core, sans-IO: Noise XX, transport encryption, identities,
and the vault that keeps their keys.

A secure channel runs a Noise XX handshake (`HandshakeState`) whose second and third messages
carry an `IdentityProof` binding each side's Noise static key to its `Identity`; then each
direction is protected by a `ChannelEncryptor` / `ChannelDecryptor` pair. Keys live in a
`Vault`. One end's protocol (message sequence, authorization, keepalive) is a `ChannelMachine`.
All of that is sans-IO (but for the vault's file access); the actors that run it over routes
are `SecureChannelListener` and `SecureChannelWorker`, opened with `create_secure_channel` or a
node's `SecureChannels` registry.

The trust layer's sans-IO core is here too (docs/trust.md): exported identities
(`IdentityPublic.export`), credentials (`issue_credential`, `verify_credential`), Ockam's policy
language (`parse_policy_expression`, `check_policy`), enrollment tickets (`EnrollmentTicket`)
and an authority's enrollment rules (`Enrollment` over an `EnrollmentStore`). At run time: a
node's `TrustContext` (what its channels present and believe; each channel end's subject), an
authority's `AuthorityService` and the `AuthorityClient` that asks it, and the
`CredentialRefresher` that keeps a node's own credential fresh.
"""

from ._authority import DEFAULT_CREDENTIAL_TTL as DEFAULT_CREDENTIAL_TTL
from ._authority import AuthorityService as AuthorityService
from ._authority import ProjectInfo as ProjectInfo
from ._authority_client import AuthorityClient as AuthorityClient
from ._authority_protocol import AUTHORITY_SERVICE as AUTHORITY_SERVICE
from ._authority_protocol import AuthorityError as AuthorityError
from ._authority_protocol import AuthorityFailure as AuthorityFailure
from ._authority_protocol import AuthorityReply as AuthorityReply
from ._authority_protocol import AuthorityRequest as AuthorityRequest
from ._authority_protocol import CreateTicket as CreateTicket
from ._authority_protocol import CredentialIssued as CredentialIssued
from ._authority_protocol import Enrolled as Enrolled
from ._authority_protocol import IssueCredential as IssueCredential
from ._authority_protocol import ListMembers as ListMembers
from ._authority_protocol import MemberList as MemberList
from ._authority_protocol import RedeemTicket as RedeemTicket
from ._authority_protocol import TicketCreated as TicketCreated
from ._authority_protocol import encode_authority_message as encode_authority_message
from ._channel_events import Closed as Closed
from ._channel_events import Established as Established
from ._channel_events import Event as Event
from ._channel_events import Presented as Presented
from ._channel_events import Transmit as Transmit
from ._channel_info import SecureChannelInfo as SecureChannelInfo
from ._channel_info import SecureChannelListenerInfo as SecureChannelListenerInfo
from ._channel_info import check_identifier as check_identifier
from ._channel_listener import SecureChannelListener as SecureChannelListener
from ._channel_machine import ChannelMachine as ChannelMachine
from ._channel_protocol import PROLOGUE as PROLOGUE
from ._channel_protocol import Answer as Answer
from ._channel_protocol import ChannelMessage as ChannelMessage
from ._channel_protocol import ChannelProtocolError as ChannelProtocolError
from ._channel_protocol import Close as Close
from ._channel_protocol import Deliver as Deliver
from ._channel_protocol import Encrypted as Encrypted
from ._channel_protocol import Finish as Finish
from ._channel_protocol import Heartbeat as Heartbeat
from ._channel_protocol import Hello as Hello
from ._channel_protocol import InnerMessage as InnerMessage
from ._channel_protocol import LocalProtocolError as LocalProtocolError
from ._channel_protocol import MessageDropped as MessageDropped
from ._channel_protocol import Present as Present
from ._channel_protocol import Ready as Ready
from ._channel_protocol import Refuse as Refuse
from ._channel_protocol import RemoteProtocolError as RemoteProtocolError
from ._channel_protocol import SecureChannelError as SecureChannelError
from ._channel_protocol import encode_channel_message as encode_channel_message
from ._channel_settings import HANDSHAKE_TIMEOUT as HANDSHAKE_TIMEOUT
from ._channel_settings import KEEPALIVE_INTERVAL as KEEPALIVE_INTERVAL
from ._channel_settings import KEEPALIVE_TIMEOUT as KEEPALIVE_TIMEOUT
from ._channel_settings import ChannelSettings as ChannelSettings
from ._channel_state import TRANSITIONS as TRANSITIONS
from ._channel_state import ChannelState as ChannelState
from ._channel_state import Input as Input
from ._channel_worker import SecureChannelWorker as SecureChannelWorker
from ._channels import DEFAULT_LISTENER as DEFAULT_LISTENER
from ._channels import SecureChannels as SecureChannels
from ._channels import create_secure_channel as create_secure_channel
from ._cipher_state import CIPHERS as CIPHERS
from ._cipher_state import MAX_NONCE as MAX_NONCE
from ._cipher_state import CipherState as CipherState
from ._credential import CREDENTIAL_CONTEXT as CREDENTIAL_CONTEXT
from ._credential import DEFAULT_CREDENTIAL_SCOPE as DEFAULT_CREDENTIAL_SCOPE
from ._credential import MAX_CLOCK_SKEW as MAX_CLOCK_SKEW
from ._credential import RESERVED_ATTRIBUTES as RESERVED_ATTRIBUTES
from ._credential import Credential as Credential
from ._credential import CredentialData as CredentialData
from ._credential import CredentialDecodeError as CredentialDecodeError
from ._credential import CredentialError as CredentialError
from ._credential import CredentialExpiredError as CredentialExpiredError
from ._credential import CredentialIssuerError as CredentialIssuerError
from ._credential import CredentialNotYetValidError as CredentialNotYetValidError
from ._credential import CredentialScopeError as CredentialScopeError
from ._credential import CredentialSignatureError as CredentialSignatureError
from ._credential import CredentialSubjectError as CredentialSubjectError
from ._credential import issue_credential as issue_credential
from ._credential import verify_credential as verify_credential
from ._credential_refresh import REFRESH_FRACTION as REFRESH_FRACTION
from ._credential_refresh import CredentialRefresher as CredentialRefresher
from ._credential_refresh import RefreshSchedule as RefreshSchedule
from ._enrollment import DEFAULT_TICKET_DURATION as DEFAULT_TICKET_DURATION
from ._enrollment import ENROLLER_ROLE as ENROLLER_ROLE
from ._enrollment import PROJECT_ATTRIBUTE as PROJECT_ATTRIBUTE
from ._enrollment import ROLE_ATTRIBUTE as ROLE_ATTRIBUTE
from ._enrollment import Enrollment as Enrollment
from ._enrollment import EnrollmentError as EnrollmentError
from ._enrollment import EnrollmentStore as EnrollmentStore
from ._enrollment import Member as Member
from ._enrollment import MemoryEnrollmentStore as MemoryEnrollmentStore
from ._enrollment import NotAMemberError as NotAMemberError
from ._enrollment import NotAuthorizedError as NotAuthorizedError
from ._enrollment import Roles as Roles
from ._enrollment import TicketExpiredError as TicketExpiredError
from ._enrollment import TicketRecord as TicketRecord
from ._enrollment import TicketUnknownError as TicketUnknownError
from ._enrollment import TicketUsedUpError as TicketUsedUpError
from ._enrollment_sqlite import SqliteEnrollmentStore as SqliteEnrollmentStore
from ._handshake import MAX_MESSAGE_LEN as MAX_MESSAGE_LEN
from ._handshake import HandshakeState as HandshakeState
from ._identity import BINDING_CONTEXT as BINDING_CONTEXT
from ._identity import IDENTIFIER_PREFIX as IDENTIFIER_PREFIX
from ._identity import Identity as Identity
from ._identity import IdentityError as IdentityError
from ._identity import IdentityProof as IdentityProof
from ._identity import IdentityPublic as IdentityPublic
from ._identity import bind_static_key as bind_static_key
from ._identity import verify_binding as verify_binding
from ._noise_errors import DecryptionError as DecryptionError
from ._noise_errors import DropReason as DropReason
from ._noise_errors import HandshakeError as HandshakeError
from ._noise_errors import NoiseError as NoiseError
from ._noise_errors import NonceError as NonceError
from ._noise_errors import NonceExhaustedError as NonceExhaustedError
from ._policy_boolean import NAME_FORMAT as NAME_FORMAT
from ._policy_boolean import SUBJECT_KEY as SUBJECT_KEY
from ._policy_boolean import And as And
from ._policy_boolean import BooleanExpr as BooleanExpr
from ._policy_boolean import Name as Name
from ._policy_boolean import Not as Not
from ._policy_boolean import Or as Or
from ._policy_boolean import PolicyExpression as PolicyExpression
from ._policy_boolean import parse_boolean_expression as parse_boolean_expression
from ._policy_boolean import parse_policy_expression as parse_policy_expression
from ._policy_boolean import to_expression as to_expression
from ._policy_eval import ACTION_KEY as ACTION_KEY
from ._policy_eval import DEFAULT_ACTION as DEFAULT_ACTION
from ._policy_eval import RESOURCE_KEY as RESOURCE_KEY
from ._policy_eval import PolicyDecision as PolicyDecision
from ._policy_eval import PolicyEvaluationError as PolicyEvaluationError
from ._policy_eval import Subject as Subject
from ._policy_eval import check_policy as check_policy
from ._policy_eval import evaluate_expression as evaluate_expression
from ._policy_eval import is_authorized as is_authorized
from ._policy_eval import policy_environment as policy_environment
from ._policy_expr import MAX_EXPRESSION_DEPTH as MAX_EXPRESSION_DEPTH
from ._policy_expr import OPERATORS as OPERATORS
from ._policy_expr import Bool as Bool
from ._policy_expr import Expr as Expr
from ._policy_expr import Float as Float
from ._policy_expr import Ident as Ident
from ._policy_expr import Int as Int
from ._policy_expr import PolicyExpressionError as PolicyExpressionError
from ._policy_expr import Seq as Seq
from ._policy_expr import SList as SList
from ._policy_expr import Str as Str
from ._policy_expr import TypeMismatch as TypeMismatch
from ._policy_expr import compare_values as compare_values
from ._policy_expr import equal_values as equal_values
from ._policy_expr import is_operation as is_operation
from ._policy_expr import parse_expression as parse_expression
from ._resolve import ProjectAccess as ProjectAccess
from ._resolve import ProjectLookup as ProjectLookup
from ._resolve import resolve_secure_route as resolve_secure_route
from ._symmetric_state import SymmetricState as SymmetricState
from ._ticket import SECRET_LEN as SECRET_LEN
from ._ticket import TICKET_VERSION as TICKET_VERSION
from ._ticket import EnrollmentTicket as EnrollmentTicket
from ._ticket import TicketError as TicketError
from ._ticket import new_secret as new_secret
from ._ticket import secret_hash as secret_hash
from ._transport import FRAME_OVERHEAD as FRAME_OVERHEAD
from ._transport import REKEY_INTERVAL as REKEY_INTERVAL
from ._transport import REPLAY_WINDOW as REPLAY_WINDOW
from ._transport import ChannelDecryptor as ChannelDecryptor
from ._transport import ChannelEncryptor as ChannelEncryptor
from ._trust_context import TrustContext as TrustContext
from ._vault import Vault as Vault
from ._vault import VaultError as VaultError
