"""Message templates: CRUD, clone, preview, and sends through the ordinary pipeline."""
from __future__ import annotations

import uuid

from flask import current_app
from sqlalchemy import or_, select

from core.db import db
from core.errors import GatewayError
from models import Template
from services import bulk, guard_rails, media, messages, sending, templates
from services.phones import check_number
from web.api.blueprint import Blueprint
from web.api.messages import bulk_warnings, valid_phone
from web.api.templates_schemas import (PreviewOutSchema, PreviewSchema, TemplateBulkAcceptedSchema,
                                       TemplateBulkSchema, TemplateInSchema,
                                       TemplateQuerySchema, TemplateQueuedSchema, TemplateSchema,
                                       TemplateSendSchema, TemplateUpdateSchema)
from web.auth import Capability, current_principal, requires
from web.idempotent import idempotent
from web.pagination import contains_pattern, page
from web.prefer_wait import PREFER_WAIT_200, wait_after_commit
from web.schemas import envelope, ok, page_envelope
from web.session_scope import current_session, session_scoped
from web.texts import say
from web.transaction import audit_target

blp = Blueprint("templates", __name__, url_prefix="/api/whatsapp/templates", description="Message templates")


def _settings():
    return current_app.config["SETTINGS"]


@blp.route("")
@requires(Capability.VIEW)
@blp.arguments(TemplateQuerySchema, location="query")
@blp.response(200, page_envelope(TemplateSchema))
def list_templates(args):
    """Templates newest first; filter by category, tag, active and text (name or content)."""
    rows, next_cursor = page(template_query(args), Template.created_at, Template.id, args["limit"], args["cursor"], db)
    return {**ok(rows), "nextCursor": next_cursor}


def template_query(args: dict):
    """The templates matching TemplateQuerySchema's filters (the API's list and the panel's)."""
    query = select(Template)
    if args.get("category"):
        query = query.where(Template.category == args["category"])
    if args.get("tag"):
        query = query.where(Template.tags.contains([args["tag"]]))
    if "active" in args:
        query = query.where(Template.is_active.is_(args["active"]))
    if args.get("q"):
        pattern = contains_pattern(args["q"])
        query = query.where(or_(Template.name.ilike(pattern), Template.content.ilike(pattern)))
    return query


@blp.route("", methods=["POST"])
@requires(Capability.MANAGE)
@blp.arguments(TemplateInSchema)
@blp.response(201, envelope(TemplateSchema))
def create_template(args):
    """Create a template; placeholders `{{name}}` not declared in `variables` become required ones."""
    template = templates.create(db, by=current_principal().id, **args)
    audit_target(f"template:{template.id}", action="template.create", name=template.name)
    return ok(template, say("template.created"))


@blp.route("/<uuid:template_id>")
@requires(Capability.VIEW)
@blp.response(200, envelope(TemplateSchema))
def get_template(template_id: uuid.UUID):
    return ok(templates.get_or_404(db, template_id))


@blp.route("/<uuid:template_id>", methods=["PUT"])
@requires(Capability.MANAGE)
@blp.arguments(TemplateUpdateSchema)
@blp.response(200, envelope(TemplateSchema))
def update_template(args, template_id: uuid.UUID):
    """Change any of name, category, content, variables, isActive and tags."""
    template = templates.get_or_404(db, template_id)
    audit_target(f"template:{template.id}", action="template.update", fields=sorted(args))
    return ok(templates.update_template(db, template, by=current_principal().id, **args), say("template.updated"))


@blp.route("/<uuid:template_id>", methods=["DELETE"])
@requires(Capability.MANAGE)
@blp.response(200, envelope())
def delete_template(template_id: uuid.UUID):
    """Delete a template; messages sent from it keep their text (their templateId becomes null)."""
    template = templates.get_or_404(db, template_id)
    audit_target(f"template:{template.id}", action="template.delete", name=template.name)
    db.delete(template)
    db.flush()
    return ok(None, say("template.deleted"))


@blp.route("/<uuid:template_id>/clone", methods=["POST"])
@requires(Capability.MANAGE)
@blp.response(201, envelope(TemplateSchema))
def clone_template(template_id: uuid.UUID):
    """Copy a template under the first free name "<name> (copy)", "<name> (copy 2)", ..."""
    copy = templates.clone(db, templates.get_or_404(db, template_id), by=current_principal().id)
    audit_target(f"template:{copy.id}", action="template.clone", source=str(template_id), name=copy.name)
    return ok(copy, say("template.cloned"))


@blp.route("/<uuid:template_id>/preview", methods=["POST"])
@requires(Capability.VIEW)
@blp.arguments(PreviewSchema)
@blp.response(200, envelope(PreviewOutSchema))
def preview(args, template_id: uuid.UUID):
    """Render without sending (inactive templates too); 422 names every missing variable."""
    template = templates.get_or_404(db, template_id)
    rendering = templates.render(template, args["variables"])
    if rendering.text is None:
        raise templates.missing_error(rendering.missing, ignored=rendering.ignored)
    return ok({"templateId": template.id, "message": rendering.text, "ignoredVariables": rendering.ignored})


@blp.route("/<uuid:template_id>/send", methods=["POST"])
@requires(Capability.SEND)
@session_scoped(blp)
@blp.arguments(TemplateSendSchema)
@idempotent
@blp.response(202, envelope(TemplateQueuedSchema))
@blp.alt_response(200, schema=envelope(TemplateQueuedSchema), description=PREFER_WAIT_200)
def send(args, template_id: uuid.UUID):
    """Render the template with `variables` and queue it to `phoneNumber` (as POST /send, `Prefer:
    wait=N` included); with `mediaId`, the text is the caption of that file."""
    phone = valid_phone(args["phoneNumber"])
    text, template = templates.render_for(db, template_id, args["variables"])
    ignored = templates.render(template, args["variables"]).ignored
    stored = media.attachment(db, args.get("mediaId"), current_session())
    message = sending.send_one(db, session_name=current_session(), phone=phone, text=text,
                               user_id=current_principal().id, transactional=args["transactional"],
                               template=template, media=stored)
    audit_target(f"message:{message.id}", action="template.send", template=str(template.id),
                 phoneNumber=phone.formatted, **({"transactional": True} if args["transactional"] else {}))
    wait_after_commit(message.id)
    return ok({"messageId": message.id, "status": message.status, "phoneNumber": phone.formatted,
               "templateId": template.id, "message": text, "ignoredVariables": ignored}, say("message.queued"))


@blp.route("/<uuid:template_id>/send-bulk", methods=["POST"])
@requires(Capability.BULK)
@session_scoped(blp)
@blp.arguments(TemplateBulkSchema)
@idempotent
@blp.response(202, envelope(TemplateBulkAcceptedSchema))
def send_bulk(args, template_id: uuid.UUID):
    """Queue the template to many recipients, each with its own variables over the shared ones.

    Recipients with missing variables or invalid numbers are listed and skipped; the others are
    queued. 422 only when nobody could be queued."""
    template = templates.sendable(db, template_id)
    stored = media.attachment(db, args.get("mediaId"), current_session())
    country = _settings().default_country
    valid, bodies, invalid, errors, ignored, seen = [], [], [], [], set(), set()
    for recipient in args["recipients"]:
        phone = check_number(recipient["phoneNumber"], country)
        if not phone.is_valid:
            invalid.append({"number": phone.input, "reason": phone.error})
            continue
        if phone.formatted in seen:
            continue
        rendering = templates.render(template, {**args["variables"], **recipient["variables"]})
        ignored.update(rendering.ignored)
        if rendering.text is None:
            errors.append({"phoneNumber": phone.formatted, "missing": rendering.missing})
            continue
        seen.add(phone.formatted)
        valid.append(phone)
        bodies.append(messages.sanitise_text(rendering.text))
    if not valid:
        raise GatewayError(422, "no recipient could be queued", details={
            "errors": errors, "invalid": invalid, "missing": sorted({k for e in errors for k in e["missing"]})})
    job, valid, invalid = bulk.create_job(db, session_name=current_session(), recipients=[], body=bodies,
                                          country=country, user_id=current_principal().id, kind="template",
                                          template_id=template.id, valid=valid, invalid=invalid, media=stored)
    estimate = guard_rails.accept(db, job, _settings(), spread=args["spread"])
    templates.count_usage(db, template, len(valid))
    audit_target(f"job:{job.id}", action="template.send_bulk", template=str(template.id), queued=len(valid),
                 invalid=len(invalid), errors=len(errors), **({"spread": True} if args["spread"] else {}))
    return ok({"jobId": job.id, "templateId": template.id, "queued": [p.formatted for p in valid],
               "invalid": invalid, "errors": errors, "ignoredVariables": sorted(ignored),
               "estimate": estimate, "warnings": bulk_warnings(job.session, [p.formatted for p in valid])},
              say("template_bulk.queued", queued=len(valid), invalid=len(invalid), errors=len(errors)))
