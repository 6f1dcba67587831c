"""The templates page: list and search, create, edit (content, variables, tags, active), clone,
delete, preview. The API's schemas and services.templates, as /api/whatsapp/templates."""
from __future__ import annotations

import uuid

from flask import flash, g, redirect, render_template, request, url_for

from core.db import db
from core.errors import GatewayError
from models import Template
from services import templates
from web.admin.blueprint import blp, failure
from web.admin.forms import query_args, validated
from web.admin.security import panel_page
from web.api.templates import template_query
from web.api.templates_schemas import CATEGORIES, TemplateInSchema, TemplateQuerySchema
from web.auth import Capability
from web.pagination import page
from web.texts import say
from web.transaction import audit_target

BLANK_VARIABLE_ROWS = 2  # empty rows under the declared variables, to declare new ones


@blp.route("/templates", methods=["GET"])
@panel_page(Capability.VIEW)
def templates_page():
    args = validated(TemplateQuerySchema(), query_args(request.args, "q", "category", "cursor"))
    rows, next_cursor = page(template_query(args), Template.created_at, Template.id, args["limit"], args["cursor"], db)
    return render_template("admin/message_templates.html", rows=rows, next_cursor=next_cursor, args=args,
                           categories=CATEGORIES)


def _posted() -> dict:
    """The form as TemplateInSchema's fields: variables from their rows (a row without a key is
    left out), tags comma-separated."""
    variables = []
    rows = request.form.get("variable_rows", "")
    for index in range(min(int(rows), 100 + BLANK_VARIABLE_ROWS) if rows.isdigit() else 0):
        key = request.form.get(f"variables-{index}-key", "").strip()
        if not key:
            continue
        variables.append({"key": key,
                          "description": request.form.get(f"variables-{index}-description", "").strip() or None,
                          "required": request.form.get(f"variables-{index}-required") == "on",
                          "default": request.form.get(f"variables-{index}-default") or None})
    return {"name": request.form.get("name", ""), "category": request.form.get("category", ""),
            "content": request.form.get("content", ""), "variables": variables[:100],
            "isActive": request.form.get("isActive") == "on",
            "tags": [t.strip() for t in request.form.get("tags", "").split(",") if t.strip()]}


def _form_page(template: Template | None, form: dict, status: int = 200, **context):
    rows = list(form.get("variables") or []) + [{}] * BLANK_VARIABLE_ROWS
    return render_template("admin/message_template.html", template=template, form=form, variable_rows=rows,
                           categories=CATEGORIES, **context), status


def _as_form(template: Template) -> dict:
    return {"name": template.name, "category": template.category, "content": template.content,
            "variables": template.variables, "isActive": template.is_active, "tags": template.tags}


@blp.route("/templates/new", methods=["GET"])
@panel_page(Capability.MANAGE)
def new_template():
    return _form_page(None, {"category": CATEGORIES[0], "isActive": True})


@blp.route("/templates", methods=["POST"])
@panel_page(Capability.MANAGE)
def create_template():
    form = _posted()
    try:
        template = templates.create(db, by=g.principal.id, **validated(TemplateInSchema(), form))
    except GatewayError as error:  # the form again, with what was typed
        return _form_page(None, form, error.status, error=failure(error))
    audit_target(f"template:{template.id}", action="template.create", name=template.name)
    flash(say("Modello «{name}» creato", name=template.name), "ok")
    return redirect(url_for("admin.template_page", template_id=template.id))


@blp.route("/templates/<uuid:template_id>", methods=["GET"])
@panel_page(Capability.VIEW)
def template_page(template_id: uuid.UUID):
    template = templates.get_or_404(db, template_id)
    return _form_page(template, _as_form(template))


@blp.route("/templates/<uuid:template_id>", methods=["POST"])
@panel_page(Capability.MANAGE)
def update_template(template_id: uuid.UUID):
    template = templates.get_or_404(db, template_id)
    form = _posted()
    try:
        args = validated(TemplateInSchema(), form)
        audit_target(f"template:{template.id}", action="template.update", fields=sorted(args))
        templates.update_template(db, template, by=g.principal.id, **args)
    except GatewayError as error:
        db.rollback()  # nothing of a refused change stays in the session
        return _form_page(templates.get_or_404(db, template_id), form, error.status, error=failure(error))
    flash(say("Modello «{name}» salvato", name=template.name), "ok")
    return redirect(url_for("admin.template_page", template_id=template.id))


@blp.route("/templates/<uuid:template_id>/clone", methods=["POST"])
@panel_page(Capability.MANAGE)
def clone_template(template_id: uuid.UUID):
    copy = templates.clone(db, templates.get_or_404(db, template_id), by=g.principal.id)
    audit_target(f"template:{copy.id}", action="template.clone", source=str(template_id), name=copy.name)
    flash(say("Copia creata: «{name}»", name=copy.name), "ok")
    return redirect(url_for("admin.template_page", template_id=copy.id))


@blp.route("/templates/<uuid:template_id>/delete", methods=["POST"])
@panel_page(Capability.MANAGE)
def delete_template(template_id: uuid.UUID):
    """As DELETE /api/whatsapp/templates/{id}: messages sent from it keep their text."""
    template = templates.get_or_404(db, template_id)
    audit_target(f"template:{template.id}", action="template.delete", name=template.name)
    db.delete(template)
    db.flush()
    flash(say("Modello «{name}» eliminato", name=template.name), "ok")
    return redirect(url_for("admin.templates_page"))


@blp.route("/templates/<uuid:template_id>/preview", methods=["POST"])
@panel_page(Capability.VIEW)
def preview_template(template_id: uuid.UUID):
    """The text with these values, sent to nobody (inactive templates too), as the API's preview."""
    template = templates.get_or_404(db, template_id)
    values = {key[4:]: value for key, value in request.form.items() if key.startswith("var_") and value}
    return _form_page(template, _as_form(template), values=values, preview=templates.render(template, values))
