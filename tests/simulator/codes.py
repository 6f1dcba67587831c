"""Random identifiers shaped like the ones WhatsApp Web produces (auth codes, message ids, pairing codes)."""
from __future__ import annotations

import base64
import secrets
import string


def auth_code() -> dict:
    """A multidevice auth code like wa-js `conn.getAuthCode()`.

    fullCode is `ref,staticKeyPair,identityKeyPair,secretKey`, which is what the QR encodes.
    """
    ref = "2@" + base64.b64encode(secrets.token_bytes(48)).decode()
    static_key = base64.b64encode(secrets.token_bytes(32)).decode()
    identity_key = base64.b64encode(secrets.token_bytes(32)).decode()
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    return {
        "type": "multidevice",
        "ref": ref,
        "staticKeyPair": static_key,
        "identityKeyPair": identity_key,
        "secretKey": secret,
        "fullCode": ",".join([ref, static_key, identity_key, secret]),
    }


def message_id() -> str:
    """The id part of a message key, like WhatsApp Web's own `3EB0` + 16 hex digits."""
    return "3EB0" + secrets.token_hex(8).upper()


def pairing_code() -> str:
    """Eight characters, as WhatsApp returns them for phone-number linking (shown as XXXX-XXXX)."""
    alphabet = string.ascii_uppercase.replace("I", "").replace("O", "") + "23456789"
    return "".join(secrets.choice(alphabet) for _ in range(8))


def normalize_code(code: str) -> str:
    return "".join(ch for ch in str(code).upper() if ch.isalnum())


def device_id() -> str:
    return secrets.token_hex(8)
