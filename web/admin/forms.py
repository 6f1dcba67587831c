"""What the panel's pages share: a form or query string
checked by the API's own schema, its refusal as the API's 422."""
from __future__ import annotations

from marshmallow import Schema, ValidationError

from core.errors import GatewayError
from models.enums import ErrorType


def validated(schema: Schema, data: dict) -> dict:
    """`data` loaded by the API's schema for the same operation; a 422 naming each wrong field."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        fields = exc.messages if isinstance(exc.messages, dict) else {"_": exc.messages}
        text = "; ".join(f"{name}: {_flat(problems)}" for name, problems in fields.items())
        raise GatewayError(422, text, ErrorType.VALIDATION_ERROR, details=fields) from None


def _flat(problems) -> str:
    if isinstance(problems, dict):
        return ", ".join(f"{key}: {_flat(value)}" for key, value in problems.items())
    if isinstance(problems, list):
        return ", ".join(_flat(p) for p in problems)
    return str(problems)


def query_args(request_args, *names: str) -> dict:
    """The named query-string filters that were given (empty ones left out, as the API's omitted ones)."""
    return {name: request_args[name].strip() for name in names if request_args.get(name, "").strip()}
