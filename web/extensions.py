"""Flask extensions, created unbound and initialised in create_app."""
from __future__ import annotations

from flask_jwt_extended import JWTManager

jwt = JWTManager()
