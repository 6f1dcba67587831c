"""Message templates: `{{name}}` placeholders filled by plain string substitution (never evaluated).

A template declares its variables (key, description, required, default); a placeholder found in the
content but not declared is declared for it as required. Rendering names every missing variable
and reports the extra ones it ignored. Sends go through the ordinary pipeline (services.messages and
services.bulk) with the template's id on each row; `usage_count` counts the rows actually queued.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import get_or_404 as db_get_or_404
from core.errors import GatewayError
from models import Template
from models.enums import ErrorType
from services.messages import sanitise_text

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NAME_LENGTH = 120


@dataclass
class Rendering:
    text: str | None
    missing: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def placeholders(content: str) -> list[str]:
    """The placeholder keys of `content`, in order of first appearance."""
    return list(dict.fromkeys(PLACEHOLDER.findall(content)))


def declared_variables(content: str, variables: list[dict]) -> list[dict]:
    """The declared variables, plus a required declaration for every undeclared placeholder."""
    declared = [{"key": v["key"], "description": v.get("description"), "required": bool(v.get("required", True)),
                 "default": v.get("default")} for v in variables]
    known = {v["key"] for v in declared}
    if len(known) != len(declared):
        raise GatewayError(422, "variable keys must be unique", details={"variables": ["duplicate key"]})
    declared += [{"key": key, "description": None, "required": True, "default": None}
                 for key in placeholders(content) if key not in known]
    return declared


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(template: Template, values: dict) -> Rendering:
    """Fill the placeholders of `template` from `values`, then declared defaults. Missing ones make
    `text` None; keys that are neither declared nor placeholders are ignored and listed."""
    declared = {v["key"]: v for v in template.variables}
    keys = placeholders(template.content)
    filled = {k: v for k, v in values.items() if v is not None}
    for key, variable in declared.items():
        if key not in filled and variable.get("default") is not None:
            filled[key] = variable["default"]
    missing = [k for k in keys if k not in filled]
    missing += [k for k, v in declared.items() if v.get("required") and k not in filled and k not in missing]
    ignored = sorted(k for k in values if k not in declared and k not in keys)
    if missing:
        return Rendering(None, missing, ignored)
    text = PLACEHOLDER.sub(lambda match: _text(filled[match.group(1)]), template.content)
    return Rendering(text, [], ignored)


def missing_error(missing: list[str], **details) -> GatewayError:
    return GatewayError(422, f"missing template variables: {', '.join(missing)}", ErrorType.VALIDATION_ERROR,
                        details={"missing": missing, **details})


def get_or_404(session: Session, template_id) -> Template:
    return db_get_or_404(session, Template, template_id, "template")


def sendable(session: Session, template_id) -> Template:
    template = get_or_404(session, template_id)
    if not template.is_active:
        raise GatewayError(409, "the template is not active: activate it before sending")
    return template


def render_for(session: Session, template_id, variables: dict) -> tuple[str, Template]:
    """The text a send of `template_id` with `variables` would queue (for scheduled messages too).

    Raises GatewayError 404 (no template), 409 (inactive) or 422 (details["missing"] names every
    missing variable; an empty text after cleaning is 422 as well)."""
    template = sendable(session, template_id)
    rendering = render(template, variables or {})
    if rendering.text is None:
        raise missing_error(rendering.missing)
    return sanitise_text(rendering.text), template


def count_usage(session: Session, template: Template, queued: int) -> None:
    """Add `queued` messages to the template's usage (an atomic UPDATE: concurrent sends add up)."""
    if queued:
        session.execute(update(Template).where(Template.id == template.id)
                        .values(usage_count=Template.usage_count + queued))
        session.expire(template, ["usage_count"])


def _name_taken(session: Session, name: str, exclude=None) -> bool:
    query = select(Template.id).where(func.lower(Template.name) == name.lower())
    if exclude is not None:
        query = query.where(Template.id != exclude)
    return session.scalar(query.limit(1)) is not None


def _flush_unique(session: Session, template: Template) -> None:
    """Flush, turning a race on the unique name into the same 409 as the pre-check."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise GatewayError(409, f"a template named {template.name!r} exists already") from None


def create(session: Session, *, by: str | None, **values) -> Template:
    if _name_taken(session, values["name"]):
        raise GatewayError(409, f"a template named {values['name']!r} exists already")
    variables = declared_variables(values["content"], values.get("variables") or [])
    template = Template(id=uuid.uuid4(), name=values["name"], category=values["category"],
                        content=values["content"], variables=variables,
                        is_active=values.get("is_active", True), tags=_tags(values.get("tags")),
                        usage_count=0, created_by=by, updated_by=by)
    session.add(template)
    _flush_unique(session, template)
    return template


def update_template(session: Session, template: Template, *, by: str | None, **values) -> Template:
    if "name" in values and values["name"] != template.name and _name_taken(session, values["name"], template.id):
        raise GatewayError(409, f"a template named {values['name']!r} exists already")
    for key in ("name", "category", "content", "is_active"):
        if key in values:
            setattr(template, key, values[key])
    if "tags" in values:
        template.tags = _tags(values["tags"])
    if "variables" in values:
        template.variables = declared_variables(template.content, values["variables"])
    elif "content" in values:  # keep what was declared on purpose, drop stale auto-declarations
        keys = set(placeholders(template.content))
        kept = [v for v in template.variables
                if v["key"] in keys or v.get("description") or v.get("default") is not None]
        template.variables = declared_variables(template.content, kept)
    template.updated_by = by
    _flush_unique(session, template)
    return template


def clone(session: Session, template: Template, *, by: str | None) -> Template:
    """A copy named "<name> (copy)", or "(copy 2)", "(copy 3)"... whichever is free; usage restarts at 0."""
    copy = Template(id=uuid.uuid4(), name=free_copy_name(session, template.name), category=template.category,
                    content=template.content, variables=list(template.variables), is_active=template.is_active,
                    tags=list(template.tags), usage_count=0, created_by=by, updated_by=by)
    session.add(copy)
    _flush_unique(session, copy)
    return copy


def free_copy_name(session: Session, name: str) -> str:
    for n in range(1, 10_000):
        suffix = " (copy)" if n == 1 else f" (copy {n})"
        candidate = name[:NAME_LENGTH - len(suffix)] + suffix
        if not _name_taken(session, candidate):
            return candidate
    raise GatewayError(409, "too many copies of this template")


def _tags(tags) -> list[str]:
    return list(dict.fromkeys(t.strip() for t in tags or [] if t and t.strip()))
