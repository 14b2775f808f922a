"""Hex text on the command line: exported identities, credentials and tickets are written so."""

from __future__ import annotations


def decode_hex(text: str, *, what: str, error: type[Exception]) -> bytes:
    """The bytes that `text` (hex digits, surrounding whitespace ignored) spells.

    Args:
        text: The hex text, as a user pasted it.
        what: What it should hold, for the message ("an exported identity").
        error: The exception to raise when it is not hex.

    Raises:
        error: `text` has characters other than hex digits, or an odd number of them.
    """
    text = text.strip()
    try:
        return bytes.fromhex(text)
    except ValueError:
        shown = f"{text[:20]!r}{'…' if len(text) > 20 else ''}"
        raise error(f"{what} in hex has only the digits 0-9 and a-f, got {shown}") from None
