"""Swagger UI's assets, served from the npm package installed by `make setup` (no CDN needed)."""
from __future__ import annotations

from flask import Blueprint, send_from_directory

from core.settings import ROOT
from web.auth import public

SWAGGER_UI_DIR = ROOT / "vendor" / "node_modules" / "swagger-ui-dist"
SWAGGER_UI_URL = "/api/docs/static/"

blp = Blueprint("docs_assets", __name__)


@blp.route(f"{SWAGGER_UI_URL}<path:filename>")
@public
def swagger_asset(filename: str):
    return send_from_directory(SWAGGER_UI_DIR, filename, max_age=86400)
