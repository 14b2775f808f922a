"""Secure channels' cryptographic core, sans-IO: Noise XX, transport encryption, identities,
and the vault that keeps their keys.

A secure channel runs a Noise XX handshake (`HandshakeState`) whose second and third messages
carry an `IdentityProof` binding each side's Noise static key to its `Identity`; then each
direction is protected by a `ChannelEncryptor` / `ChannelDecryptor` pair. Keys live in a
`Vault`. All of that is sans-IO (but for the vault's file access); the actors that run it over
routes are `SecureChannelListener` and `SecureChannelWorker`, opened with
`create_secure_channel` or a node's `SecureChannels` registry.
"""

from ._channel import DEFAULT_LISTENER as DEFAULT_LISTENER
from ._channel import HANDSHAKE_TIMEOUT as HANDSHAKE_TIMEOUT
from ._channel import PROLOGUE as PROLOGUE
from ._channel import SecureChannelError as SecureChannelError
from ._channel import SecureChannelInfo as SecureChannelInfo
from ._channel import SecureChannelListener as SecureChannelListener
from ._channel import SecureChannelListenerInfo as SecureChannelListenerInfo
from ._channel import SecureChannels as SecureChannels
from ._channel import SecureChannelWorker as SecureChannelWorker
from ._channel import check_identifier as check_identifier
from ._channel import create_secure_channel as create_secure_channel
from ._identity import BINDING_CONTEXT as BINDING_CONTEXT
from ._identity import IDENTIFIER_PREFIX as IDENTIFIER_PREFIX
from ._identity import Identity as Identity
from ._identity import IdentityError as IdentityError
from ._identity import IdentityProof as IdentityProof
from ._identity import IdentityPublic as IdentityPublic
from ._identity import bind_static_key as bind_static_key
from ._identity import verify_binding as verify_binding
from ._noise import CIPHERS as CIPHERS
from ._noise import MAX_MESSAGE_LEN as MAX_MESSAGE_LEN
from ._noise import MAX_NONCE as MAX_NONCE
from ._noise import CipherState as CipherState
from ._noise import DecryptionError as DecryptionError
from ._noise import DropReason as DropReason
from ._noise import HandshakeError as HandshakeError
from ._noise import HandshakeState as HandshakeState
from ._noise import NoiseError as NoiseError
from ._noise import NonceError as NonceError
from ._noise import NonceExhaustedError as NonceExhaustedError
from ._noise import SymmetricState as SymmetricState
from ._transport import FRAME_OVERHEAD as FRAME_OVERHEAD
from ._transport import REKEY_INTERVAL as REKEY_INTERVAL
from ._transport import REPLAY_WINDOW as REPLAY_WINDOW
from ._transport import ChannelDecryptor as ChannelDecryptor
from ._transport import ChannelEncryptor as ChannelEncryptor
from ._vault import Vault as Vault
from ._vault import VaultError as VaultError
