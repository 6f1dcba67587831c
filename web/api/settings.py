"""Runtime settings (services/runtime_settings.py): ADMINs read them, SUPER_ADMINs change them."""
from __future__ import annotations

from flask import current_app
from marshmallow import Schema, fields, validate

from core.db import db
from services import runtime_settings
from web.api.blueprint import Blueprint
from web.auth import Capability, current_principal, requires
from web.schemas import envelope, ok
from web.transaction import audit_target

blp = Blueprint("settings", __name__, url_prefix="/api/settings",
                description="Runtime settings: pacing, retries and alert thresholds, changed without a restart")

_COUNT = validate.Range(min=0, max=1_000_000_000)


def _field(name: str) -> fields.Field:
    kind = fields.Float if name == "alert_error_rate" else fields.Integer
    options = {"validate": validate.Range(min=0, max=1)} if name == "alert_error_rate" else {"validate": _COUNT}
    return kind(allow_none=True, data_key=name.upper(), metadata={"description": f"{name.upper()}; null: back to the environment's"},
                **options)


# one optional field per tunable, named as its environment variable; an unknown name is a 422
SettingsPatchSchema = Schema.from_dict({name: _field(name) for name in runtime_settings.TUNABLE},
                                       name="SettingsPatchSchema")


class SettingSchema(Schema):
    name = fields.String(metadata={"example": "SEND_MIN_INTERVAL_MS"})
    value = fields.Raw(metadata={"description": "in force now"})
    default = fields.Raw(metadata={"description": "the environment's (or built-in) value"})
    overridden = fields.Boolean()
    updatedAt = fields.DateTime(allow_none=True)
    updatedBy = fields.String(allow_none=True)


def _settings():
    return current_app.config["SETTINGS"]


@blp.route("")
@requires(Capability.MANAGE)
@blp.response(200, envelope(SettingSchema, many=True))
def list_settings():
    """Every runtime setting: the value in force, the environment's default, who changed it when."""
    return ok(runtime_settings.listing(db, _settings()))


@blp.route("", methods=["PATCH"])
@requires(Capability.ADMINISTER)
@blp.arguments(SettingsPatchSchema)
@blp.response(200, envelope(SettingSchema, many=True))
def change_settings(changes):
    """Change some settings (`null` resets one); in force within seconds in every worker (pacing
    within 10 s, alert thresholds at the next health check). Audited with the previous values."""
    done = runtime_settings.update(db, _settings(), changes, by=current_principal().id)
    audit_target("settings", action="settings.update", changes=done)
    db.flush()
    return ok(runtime_settings.listing(db, _settings()), "settings changed")
