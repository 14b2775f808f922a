"""Noise XX, CipherState, SymmetricState and the channel's transport encryption, without I/O."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from secure import (
    MAX_NONCE,
    ChannelDecryptor,
    ChannelEncryptor,
    CipherState,
    DecryptionError,
    DropReason,
    HandshakeError,
    HandshakeState,
    NoiseError,
    NonceError,
    NonceExhaustedError,
    SymmetricState,
)

# Entries copied verbatim from cacophony's published vectors (see "source" in the file).
_VECTORS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "noise_vectors.json").read_text()
)["vectors"]


def _cipher_of(protocol_name: str) -> str:
    return protocol_name.split("_")[3]


def _private() -> bytes:
    return X25519PrivateKey.generate().private_bytes_raw()


def _public(private: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()


def _pair(cipher: str = "AESGCM", prologue: bytes = b"") -> tuple[HandshakeState, HandshakeState]:
    initiator = HandshakeState(True, static_private=_private(), prologue=prologue, cipher=cipher)
    responder = HandshakeState(False, static_private=_private(), prologue=prologue, cipher=cipher)
    return initiator, responder


def _run_handshake(
    initiator: HandshakeState, responder: HandshakeState
) -> list[tuple[bytes, bytes]]:
    """Push messages through a fake link until both sides are complete: (sent, received)."""
    log: list[tuple[bytes, bytes]] = []
    for _ in range(3):
        writer, reader = (
            (initiator, responder) if initiator.should_write else (responder, initiator)
        )
        assert writer.should_write
        assert not reader.should_write
        payload = f"payload {len(log) + 1}".encode()
        message = writer.write_message(payload)
        log.append((payload, reader.read_message(message)))
    return log


# -- published test vectors ---------------------------------------------------------------------


def _vector_party(vector: dict[str, Any], side: str, cipher: str) -> HandshakeState:
    """The handshake of one side of a test vector ("init" or "resp") with its fixed keys."""
    return HandshakeState(
        side == "init",
        static_private=bytes.fromhex(vector[f"{side}_static"]),
        prologue=bytes.fromhex(vector[f"{side}_prologue"]),
        ephemeral_private=bytes.fromhex(vector[f"{side}_ephemeral"]),
        cipher=cipher,
    )


@pytest.mark.parametrize("vector", _VECTORS, ids=[v["protocol_name"] for v in _VECTORS])
def test_handshake_and_transport_match_cacophony_vectors(vector: dict[str, Any]) -> None:
    cipher = _cipher_of(vector["protocol_name"])
    initiator = _vector_party(vector, "init", cipher)
    responder = _vector_party(vector, "resp", cipher)
    assert initiator.protocol_name == responder.protocol_name == vector["protocol_name"]
    messages = vector["messages"]

    # Handshake: the messages alternate, starting with the initiator.
    hash_before_last = b""
    for index, entry in enumerate(messages[:3]):
        sender, receiver = (initiator, responder) if index % 2 == 0 else (responder, initiator)
        if index == 2:
            hash_before_last = sender.handshake_hash
        payload = bytes.fromhex(entry["payload"])
        message = sender.write_message(payload)
        assert message.hex() == entry["ciphertext"], f"handshake message {index + 1}"
        assert receiver.read_message(message) == payload
    assert initiator.complete
    assert responder.complete
    assert initiator.remote_static == _public(bytes.fromhex(vector["resp_static"]))
    assert responder.remote_static == _public(bytes.fromhex(vector["init_static"]))

    # Cacophony records the handshake hash as it stands before the final message; the final
    # hash then mixes in that message's encrypted static key (48 bytes) and encrypted payload.
    assert hash_before_last.hex() == vector["handshake_hash"]
    last = bytes.fromhex(messages[2]["ciphertext"])
    after_static = hashlib.sha256(hash_before_last + last[:48]).digest()
    final = hashlib.sha256(after_static + last[48:]).digest()
    assert initiator.handshake_hash == responder.handshake_hash == final

    # Transport: the responder sends first (message 4), then they alternate. Frame n of a
    # ChannelEncryptor is the 8-byte counter n followed by the Noise transport message n.
    initiator_send, initiator_receive = initiator.split()
    responder_send, responder_receive = responder.split()
    encryptors = {
        "initiator": ChannelEncryptor(initiator_send),
        "responder": ChannelEncryptor(responder_send),
    }
    decryptors = {
        "initiator": ChannelDecryptor(initiator_receive),
        "responder": ChannelDecryptor(responder_receive),
    }
    counters = {"initiator": 0, "responder": 0}
    for index, entry in enumerate(messages[3:], start=3):
        source, target = (
            ("initiator", "responder") if index % 2 == 0 else ("responder", "initiator")
        )
        payload = bytes.fromhex(entry["payload"])
        frame = encryptors[source].encrypt(payload)
        assert frame[:8] == counters[source].to_bytes(8, "big")
        assert frame[8:].hex() == entry["ciphertext"], f"transport message {index + 1}"
        assert decryptors[target].decrypt(frame) == payload
        counters[source] += 1


@pytest.mark.parametrize("vector", _VECTORS, ids=[v["protocol_name"] for v in _VECTORS])
def test_cipher_state_transport_messages_match_vectors(vector: dict[str, Any]) -> None:
    """The same transport messages through bare CipherStates (decrypt side included)."""
    cipher = _cipher_of(vector["protocol_name"])
    sides = []
    for role in ("init", "resp"):
        sides.append(
            HandshakeState(
                role == "init",
                static_private=bytes.fromhex(vector[f"{role}_static"]),
                prologue=bytes.fromhex(vector[f"{role}_prologue"]),
                ephemeral_private=bytes.fromhex(vector[f"{role}_ephemeral"]),
                cipher=cipher,
            )
        )
    initiator, responder = sides
    for index, entry in enumerate(vector["messages"][:3]):
        sender, receiver = (initiator, responder) if index % 2 == 0 else (responder, initiator)
        receiver.read_message(sender.write_message(bytes.fromhex(entry["payload"])))
    i_send, i_receive = initiator.split()
    r_send, r_receive = responder.split()
    for index, entry in enumerate(vector["messages"][3:], start=3):
        send, receive = (i_send, r_receive) if index % 2 == 0 else (r_send, i_receive)
        ciphertext = send.encrypt_with_ad(b"", bytes.fromhex(entry["payload"]))
        assert ciphertext.hex() == entry["ciphertext"]
        assert receive.decrypt_with_ad(b"", ciphertext).hex() == entry["payload"]


# -- handshake state machine --------------------------------------------------------------------


@pytest.mark.parametrize("cipher", ["AESGCM", "ChaChaPoly"])
def test_two_machines_complete_xx_and_talk_both_ways(cipher: str) -> None:
    initiator, responder = _pair(cipher, prologue=b"trio-ockam/1")
    assert [initiator.should_write, responder.should_write] == [True, False]
    log = _run_handshake(initiator, responder)
    assert [sent == received for sent, received in log] == [True, True, True]
    assert [initiator.complete, responder.complete] == [True, True]
    assert [initiator.should_write, responder.should_write] == [False, False]
    assert initiator.remote_static == responder.static_public
    assert responder.remote_static == initiator.static_public
    assert initiator.handshake_hash == responder.handshake_hash

    i_send, i_receive = initiator.split()
    r_send, r_receive = responder.split()
    to_responder = (ChannelEncryptor(i_send), ChannelDecryptor(r_receive))
    to_initiator = (ChannelEncryptor(r_send), ChannelDecryptor(i_receive))
    for n in range(10):
        for encryptor, decryptor in (to_responder, to_initiator):
            message = f"message {n}".encode() * n
            assert decryptor.decrypt(encryptor.encrypt(message)) == message


def test_remote_static_is_learned_at_the_right_message() -> None:
    initiator, responder = _pair()
    assert [initiator.remote_static, responder.remote_static] == [None, None]
    responder.read_message(initiator.write_message())
    assert [responder.remote_static] == [None]
    initiator.read_message(responder.write_message())
    assert initiator.remote_static == responder.static_public
    responder.read_message(initiator.write_message())
    assert responder.remote_static == initiator.static_public


@pytest.mark.parametrize("message_index", [0, 1, 2])
@pytest.mark.parametrize("byte_index", [0, 40, -1])
def test_tampered_handshake_message_raises_handshake_error(
    message_index: int, byte_index: int
) -> None:
    initiator, responder = _pair()
    link = [(initiator, responder), (responder, initiator), (initiator, responder)]
    # Tampering message 1 goes unnoticed until the keys differ at message 2, so the side that
    # detects it is the reader of message 2 at the latest.
    detecting_index = max(message_index, 1)
    for index, (writer, reader) in enumerate(link[:detecting_index]):
        message = bytearray(writer.write_message(b"hello, world"))
        if index == message_index:
            message[byte_index] ^= 0x01
        reader.read_message(bytes(message))
    writer, reader = link[detecting_index]
    message = bytearray(writer.write_message(b"hello, world"))
    if message_index == detecting_index:
        message[byte_index] ^= 0x01
    with pytest.raises(HandshakeError, match="failed authentication"):
        reader.read_message(bytes(message))
    assert reader.failed
    assert not reader.complete
    with pytest.raises(HandshakeError, match="already failed"):
        reader.write_message(b"")
    with pytest.raises(HandshakeError, match="already failed"):
        reader.read_message(b"")
    with pytest.raises(HandshakeError, match="already failed"):
        reader.split()


def test_prologue_mismatch_fails_at_message_two() -> None:
    initiator = HandshakeState(True, static_private=_private(), prologue=b"v1")
    responder = HandshakeState(False, static_private=_private(), prologue=b"v2")
    responder.read_message(initiator.write_message())
    with pytest.raises(HandshakeError, match="message 2"):
        initiator.read_message(responder.write_message())


def test_cipher_mismatch_fails() -> None:
    initiator = HandshakeState(True, static_private=_private(), cipher="AESGCM")
    responder = HandshakeState(False, static_private=_private(), cipher="ChaChaPoly")
    responder.read_message(initiator.write_message())
    with pytest.raises(HandshakeError):
        initiator.read_message(responder.write_message())


@pytest.mark.parametrize("length", [0, 31, 32, 80, 95])
def test_truncated_message_two_raises(length: int) -> None:
    initiator, responder = _pair()
    responder.read_message(initiator.write_message())
    message = responder.write_message()
    assert len(message) == 96
    with pytest.raises(HandshakeError, match=r"truncated|failed authentication"):
        initiator.read_message(message[:length])


def test_truncated_message_one_raises() -> None:
    _, responder = _pair()
    with pytest.raises(HandshakeError, match="truncated"):
        responder.read_message(b"\x00" * 31)


def test_low_order_ephemeral_key_is_refused() -> None:
    _, responder = _pair()
    responder.read_message(bytes(32))  # the all-zero point has small order
    with pytest.raises(HandshakeError, match="low-order"):
        responder.write_message()
    assert responder.failed


def test_wrong_turn_is_refused_and_poisons_the_machine() -> None:
    initiator, responder = _pair()
    with pytest.raises(HandshakeError, match="turn"):
        responder.write_message(b"")
    with pytest.raises(HandshakeError, match="already failed"):
        responder.read_message(initiator.write_message())
    initiator, _ = _pair()
    with pytest.raises(HandshakeError, match="our turn: write message 1"):
        initiator.read_message(b"\x00" * 32)


def test_oversized_payload_is_refused() -> None:
    initiator, _ = _pair()
    with pytest.raises(HandshakeError, match="65535"):
        initiator.write_message(bytes(65535))
    initiator, responder = _pair()
    with pytest.raises(HandshakeError, match="65535"):
        responder.read_message(bytes(65536))


def test_split_only_once_and_only_when_complete() -> None:
    initiator, responder = _pair()
    with pytest.raises(HandshakeError, match="before the handshake is complete"):
        initiator.split()
    initiator, responder = _pair()
    _run_handshake(initiator, responder)
    with pytest.raises(HandshakeError, match="complete"):
        initiator.write_message(b"")
    send, receive = initiator.split()
    assert send.has_key
    assert receive.has_key
    with pytest.raises(HandshakeError, match="already called"):
        initiator.split()


def test_split_pairs_match_across_sides() -> None:
    initiator, responder = _pair()
    _run_handshake(initiator, responder)
    i_send, i_receive = initiator.split()
    r_send, r_receive = responder.split()
    assert r_receive.decrypt_with_ad(b"ad", i_send.encrypt_with_ad(b"ad", b"ping")) == b"ping"
    assert i_receive.decrypt_with_ad(b"", r_send.encrypt_with_ad(b"", b"pong")) == b"pong"


def test_fresh_ephemeral_keys_give_fresh_sessions() -> None:
    static_i, static_r = _private(), _private()
    hashes_seen = set()
    for _ in range(2):
        initiator = HandshakeState(True, static_private=static_i)
        responder = HandshakeState(False, static_private=static_r)
        _run_handshake(initiator, responder)
        hashes_seen.add(initiator.handshake_hash)
    assert len(hashes_seen) == 2


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="static_private must be 32 bytes, got 3"):
        HandshakeState(True, static_private=b"abc")
    with pytest.raises(ValueError, match="ephemeral_private must be 32 bytes"):
        HandshakeState(True, static_private=_private(), ephemeral_private=b"")
    with pytest.raises(ValueError, match="unsupported cipher 'AES128'"):
        HandshakeState(True, static_private=_private(), cipher="AES128")
    with pytest.raises(ValueError, match="key must be 32 bytes"):
        CipherState(b"short")


# -- CipherState and SymmetricState -------------------------------------------------------------


def test_aesgcm_nonce_is_zeros_then_big_endian_counter() -> None:
    key = bytes(range(32))
    state = CipherState(key, cipher="AESGCM")
    state.set_nonce(0x0102030405060708)
    nonce = bytes(4) + bytes.fromhex("0102030405060708")
    assert state.encrypt_with_ad(b"ad", b"data") == AESGCM(key).encrypt(nonce, b"data", b"ad")
    assert state.nonce == 0x0102030405060709


def test_chachapoly_nonce_is_zeros_then_little_endian_counter() -> None:
    key = bytes(range(32))
    state = CipherState(key, cipher="ChaChaPoly")
    state.set_nonce(0x0102030405060708)
    nonce = bytes(4) + bytes.fromhex("0807060504030201")
    expected = ChaCha20Poly1305(key).encrypt(nonce, b"data", b"ad")
    assert state.encrypt_with_ad(b"ad", b"data") == expected


def test_empty_cipher_state_passes_data_through() -> None:
    state = CipherState()
    assert not state.has_key
    assert state.encrypt_with_ad(b"ad", b"clear") == b"clear"
    assert state.decrypt_with_ad(b"ad", b"clear") == b"clear"
    assert state.nonce == 0


def test_counter_refuses_to_reuse_a_nonce() -> None:
    state = CipherState(bytes(32))
    first = state.encrypt_with_ad(b"", b"a")
    state.encrypt_with_ad(b"", b"b")
    state.set_nonce(0)
    with pytest.raises(NonceError, match="nonce 0 was already used"):
        state.encrypt_with_ad(b"", b"c")
    state.set_nonce(1)
    with pytest.raises(NonceError, match="nonce 1 was already used"):
        state.encrypt_with_ad(b"", b"c")
    state.set_nonce(2)
    assert state.encrypt_with_ad(b"", b"a") != first
    # A new key makes every nonce fresh again.
    state.initialize_key(bytes(range(32)))
    state.encrypt_with_ad(b"", b"a")


def test_counter_raises_before_exhaustion() -> None:
    state = CipherState(bytes(32))
    state.set_nonce(MAX_NONCE - 1)
    state.encrypt_with_ad(b"", b"last message")
    assert state.nonce == MAX_NONCE
    with pytest.raises(NonceExhaustedError, match="exhausted"):
        state.encrypt_with_ad(b"", b"one too many")
    with pytest.raises(DecryptionError, match="exhausted"):
        state.decrypt_with_ad(b"", bytes(16))
    with pytest.raises(ValueError, match="between 0 and 2\\*\\*64 - 1"):
        state.set_nonce(MAX_NONCE + 1)


def test_failed_decryption_does_not_advance_the_counter() -> None:
    sender, receiver = CipherState(bytes(32)), CipherState(bytes(32))
    ciphertext = sender.encrypt_with_ad(b"", b"payload")
    tampered = bytes([ciphertext[0] ^ 1]) + ciphertext[1:]
    with pytest.raises(DecryptionError) as info:
        receiver.decrypt_with_ad(b"", tampered)
    assert info.value.reason is DropReason.TAMPERED
    with pytest.raises(DecryptionError):
        receiver.decrypt_with_ad(b"other ad", ciphertext)
    with pytest.raises(DecryptionError, match="shorter than the 16-byte tag"):
        receiver.decrypt_with_ad(b"", b"short")
    assert receiver.nonce == 0
    assert receiver.decrypt_with_ad(b"", ciphertext) == b"payload"
    assert receiver.nonce == 1


@pytest.mark.parametrize("cipher", ["AESGCM", "ChaChaPoly"])
def test_rekey_follows_the_specification(cipher: str) -> None:
    nonce = bytes(4) + b"\xff" * 8  # 2**64 - 1, the same bytes in either byte order
    key = bytes(range(32))
    aead = AESGCM(key) if cipher == "AESGCM" else ChaCha20Poly1305(key)
    expected_key = aead.encrypt(nonce, bytes(32), b"")[:32]
    state = CipherState(key, cipher=cipher)
    state.encrypt_with_ad(b"", b"x")
    copy = state.rekeyed()
    state.rekey()
    assert state.nonce == copy.nonce == 1  # rekey leaves the counter alone
    reference = CipherState(expected_key, cipher=cipher)
    reference.set_nonce(1)
    expected = reference.encrypt_with_ad(b"", b"after rekey")
    assert state.encrypt_with_ad(b"", b"after rekey") == expected
    assert copy.encrypt_with_ad(b"", b"after rekey") == expected
    with pytest.raises(NoiseError, match="no key"):
        CipherState().rekey()


def test_symmetric_state_matches_rfc5869_hkdf() -> None:
    name = b"Noise_XX_25519_AESGCM_SHA256"
    state = SymmetricState(name)
    assert state.handshake_hash == name.ljust(32, b"\x00")
    long_name = b"Noise_XX_25519_ChaChaPoly_SHA256_with_a_long_suffix"
    assert SymmetricState(long_name).handshake_hash == hashlib.sha256(long_name).digest()

    chaining_key = state.handshake_hash
    ikm = bytes(range(32))
    state.mix_key(ikm)
    derived = HKDF(hashes.SHA256(), length=64, salt=chaining_key, info=b"").derive(ikm)
    new_chaining_key, temp_key = derived[:32], derived[32:]
    h = state.handshake_hash
    ciphertext = state.encrypt_and_hash(b"secret")
    assert ciphertext == AESGCM(temp_key).encrypt(bytes(12), b"secret", h)
    assert state.handshake_hash == hashlib.sha256(h + ciphertext).digest()

    split = HKDF(hashes.SHA256(), length=64, salt=new_chaining_key, info=b"").derive(b"")
    first, second = state.split()
    assert first.encrypt_with_ad(b"", b"m") == CipherState(split[:32]).encrypt_with_ad(b"", b"m")
    assert second.encrypt_with_ad(b"", b"m") == CipherState(split[32:]).encrypt_with_ad(b"", b"m")


def test_decrypt_and_hash_mixes_the_ciphertext() -> None:
    writer, reader = SymmetricState(b"proto"), SymmetricState(b"proto")
    for state in (writer, reader):
        state.mix_hash(b"prologue")
        state.mix_key(b"shared")
    ciphertext = writer.encrypt_and_hash(b"payload")
    assert reader.decrypt_and_hash(ciphertext) == b"payload"
    assert reader.handshake_hash == writer.handshake_hash


# -- transport: ChannelEncryptor / ChannelDecryptor ---------------------------------------------


def _channel(
    cipher: str = "AESGCM", *, rekey_interval: int | None = None
) -> tuple[ChannelEncryptor, ChannelDecryptor]:
    initiator, responder = _pair(cipher)
    _run_handshake(initiator, responder)
    send, _ = initiator.split()
    _, receive = responder.split()
    if rekey_interval is None:
        return ChannelEncryptor(send), ChannelDecryptor(receive)
    return (
        ChannelEncryptor(send, rekey_interval=rekey_interval),
        ChannelDecryptor(receive, rekey_interval=rekey_interval),
    )


def _reason(decryptor: ChannelDecryptor, frame: bytes) -> DropReason:
    with pytest.raises(DecryptionError) as info:
        decryptor.decrypt(frame)
    return info.value.reason


def test_frames_carry_an_increasing_counter_and_never_reuse_a_nonce() -> None:
    encryptor, decryptor = _channel(rekey_interval=64)
    frames = [encryptor.encrypt(b"same plaintext") for _ in range(300)]
    counters = [int.from_bytes(frame[:8], "big") for frame in frames]
    assert counters == list(range(300))
    assert len({frame[8:] for frame in frames}) == 300  # same plaintext, distinct ciphertexts
    assert encryptor.next_counter == 300
    assert all(decryptor.decrypt(frame) == b"same plaintext" for frame in frames)


def test_replayed_frame_is_rejected() -> None:
    encryptor, decryptor = _channel()
    frame = encryptor.encrypt(b"once")
    assert decryptor.decrypt(frame) == b"once"
    assert _reason(decryptor, frame) is DropReason.REPLAYED
    later = encryptor.encrypt(b"later")
    assert decryptor.decrypt(later) == b"later"
    assert _reason(decryptor, frame) is DropReason.REPLAYED
    assert _reason(decryptor, later) is DropReason.REPLAYED


@pytest.mark.parametrize("cipher", ["AESGCM", "ChaChaPoly"])
def test_reordered_frames_within_the_window_are_accepted_once(cipher: str) -> None:
    encryptor, decryptor = _channel(cipher)
    frames = [encryptor.encrypt(f"m{n}".encode()) for n in range(64)]
    order = [63, *range(62, -1, -2), *range(1, 63, 2)]  # newest first, then the rest
    assert sorted(order) == list(range(64))
    for n in order:
        assert decryptor.decrypt(frames[n]) == f"m{n}".encode()
    assert decryptor.highest_counter == 63
    for n in order:
        assert _reason(decryptor, frames[n]) is DropReason.REPLAYED


def test_frame_older_than_the_window_is_rejected() -> None:
    encryptor, decryptor = _channel()
    frames = [encryptor.encrypt(f"m{n}".encode()) for n in range(70)]
    assert decryptor.decrypt(frames[69]) == b"m69"
    assert decryptor.decrypt(frames[6]) == b"m6"  # 63 behind: the oldest still accepted
    with pytest.raises(DecryptionError, match="too old") as info:
        decryptor.decrypt(frames[5])  # 64 behind
    assert info.value.reason is DropReason.TOO_OLD
    assert _reason(decryptor, frames[0]) is DropReason.TOO_OLD


def test_large_jump_forward_clears_the_window() -> None:
    encryptor, decryptor = _channel()
    frames = [encryptor.encrypt(b"x") for _ in range(200)]
    decryptor.decrypt(frames[0])
    decryptor.decrypt(frames[199])
    assert decryptor.highest_counter == 199
    assert _reason(decryptor, frames[0]) is DropReason.TOO_OLD
    assert decryptor.decrypt(frames[150]) == b"x"
    assert _reason(decryptor, frames[150]) is DropReason.REPLAYED


@pytest.mark.parametrize("position", ["counter", "ciphertext", "tag"])
def test_tampered_frame_is_rejected_and_decryptor_keeps_working(position: str) -> None:
    encryptor, decryptor = _channel()
    first = encryptor.encrypt(b"first")
    second = encryptor.encrypt(b"second")
    index = {"counter": 7, "ciphertext": 9, "tag": len(first) - 1}[position]
    tampered = bytearray(first)
    tampered[index] ^= 0x80
    assert _reason(decryptor, bytes(tampered)) is DropReason.TAMPERED
    assert decryptor.highest_counter == -1  # a refused frame changes nothing
    assert decryptor.decrypt(first) == b"first"
    assert decryptor.decrypt(second) == b"second"
    third = bytearray(encryptor.encrypt(b"third"))
    third[-1] ^= 1
    assert _reason(decryptor, bytes(third)) is DropReason.TAMPERED
    assert decryptor.decrypt(encryptor.encrypt(b"fourth")) == b"fourth"


def test_forged_future_counter_does_not_move_the_window() -> None:
    encryptor, decryptor = _channel()
    frame = encryptor.encrypt(b"genuine")
    forged = (1000).to_bytes(8, "big") + frame[8:]
    assert _reason(decryptor, forged) is DropReason.TAMPERED
    assert decryptor.decrypt(frame) == b"genuine"


def test_malformed_frames_are_rejected() -> None:
    encryptor, decryptor = _channel()
    assert _reason(decryptor, b"") is DropReason.MALFORMED
    assert _reason(decryptor, bytes(23)) is DropReason.MALFORMED
    frame = encryptor.encrypt(b"")
    assert len(frame) == 24
    reserved = MAX_NONCE.to_bytes(8, "big") + frame[8:]
    assert _reason(decryptor, reserved) is DropReason.MALFORMED
    assert decryptor.decrypt(frame) == b""


def test_frames_from_another_channel_are_rejected() -> None:
    encryptor, _ = _channel()
    _, decryptor = _channel()
    assert _reason(decryptor, encryptor.encrypt(b"hello")) is DropReason.TAMPERED


def test_rekey_boundaries_with_reordering_across_them() -> None:
    interval = 64
    encryptor, decryptor = _channel(rekey_interval=interval)
    frames = [encryptor.encrypt(f"m{n}".encode()) for n in range(4 * interval)]
    # Deliver in blocks of 16, each block reversed, so frames cross every epoch boundary late.
    for start in range(0, len(frames), 16):
        for n in reversed(range(start, start + 16)):
            assert decryptor.decrypt(frames[n]) == f"m{n}".encode()
    assert decryptor.highest_counter == 4 * interval - 1


def test_rekeyed_frames_differ_from_unrekeyed_ones() -> None:
    initiator, responder = _pair()
    _run_handshake(initiator, responder)
    send, _ = initiator.split()
    encryptor = ChannelEncryptor(send, rekey_interval=64)
    frames = [encryptor.encrypt(b"x") for _ in range(65)]
    # Frame 64 is under REKEY(k): decrypting it with the epoch-0 key must fail.
    _, receive = responder.split()
    receive.set_nonce(64)
    with pytest.raises(DecryptionError):
        receive.decrypt_with_ad(b"", frames[64][8:])
    receive.set_nonce(64)
    assert receive.rekeyed().decrypt_with_ad(b"", frames[64][8:]) == b"x"


def test_frames_more_than_one_epoch_ahead_are_refused() -> None:
    interval = 64
    encryptor, decryptor = _channel(rekey_interval=interval)
    frames = [encryptor.encrypt(b"x") for _ in range(2 * interval + 1)]
    assert _reason(decryptor, frames[2 * interval]) is DropReason.TOO_FAR_AHEAD
    assert decryptor.decrypt(frames[interval]) == b"x"  # one epoch ahead is fine
    assert decryptor.decrypt(frames[2 * interval]) == b"x"  # and now so is this one
    assert _reason(decryptor, frames[0]) is DropReason.TOO_OLD


def test_encryptor_raises_before_the_counter_is_exhausted() -> None:
    initiator, responder = _pair()
    _run_handshake(initiator, responder)
    send, _ = initiator.split()
    encryptor = ChannelEncryptor(send)
    send.set_nonce(MAX_NONCE - 1)  # pretend 2**64 - 2 frames were sent
    frame = encryptor.encrypt(b"last")
    assert frame[:8] == (MAX_NONCE - 1).to_bytes(8, "big")
    with pytest.raises(NonceExhaustedError, match="establish a new secure channel"):
        encryptor.encrypt(b"one too many")


def test_channel_objects_need_fresh_keyed_cipher_states() -> None:
    with pytest.raises(ValueError, match="no key"):
        ChannelEncryptor(CipherState())
    used = CipherState(bytes(32))
    used.encrypt_with_ad(b"", b"x")
    with pytest.raises(ValueError, match="already used"):
        ChannelDecryptor(used)
    with pytest.raises(ValueError, match="rekey_interval"):
        ChannelEncryptor(CipherState(bytes(32)), rekey_interval=8)
