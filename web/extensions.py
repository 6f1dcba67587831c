"""Flask extensions, created unbound and initialised in create_app."""
from __future__ import annotations

import time

from flask import current_app
from flask_jwt_extended import JWTManager

VERIFIED_TOKENS_KEPT = 10_000


class CachingJWTManager(JWTManager):
    """Remembers the claims of tokens it has verified, keyed by the exact token string and the
    secret that verified it, so a client's next request skips the signature check and the parsing
    (PyJWT checks base64 character by character: a fifth of /send's CPU). A different string (a
    tampered or forged token) is never a hit; expiry is checked on every hit, and an expired token
    goes through the full decode so it is refused exactly as before. Revocation and deactivation
    are not claims: web.auth checks them on every request."""

    def __init__(self, app=None):
        super().__init__(app)
        self._verified: dict[tuple, dict] = {}

    def _decode_jwt_from_config(self, encoded_token: str, csrf_value=None, allow_expired: bool = False) -> dict:
        key = (current_app.config["JWT_SECRET_KEY"], encoded_token, csrf_value)
        claims = self._verified.get(key)
        if claims is not None and (allow_expired or claims.get("exp", 0) + current_app.config["JWT_DECODE_LEEWAY"]
                                   > time.time()):
            return dict(claims)
        claims = super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            self._verified.clear()  # a crude bound; live clients refill it with one decode each
        if not allow_expired and "exp" in claims:
            self._verified[key] = dict(claims)
        return claims


jwt = CachingJWTManager()
