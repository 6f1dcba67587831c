"""The contacts page: search by name or number, favourites, and the sync from the phone (the
existing task, queued as POST /api/whatsapp/contacts/sync queues it)."""
from __future__ import annotations

import uuid

from flask import flash, redirect, render_template, request, url_for

from core.db import db, get_or_404
from models import Contact
from web.admin.blueprint import blp, panel_session, visible_sessions
from web.admin.forms import query_args, validated
from web.admin.security import panel_page
from web.api.contacts import ContactPatchSchema, ContactQuerySchema, contact_query, queue_sync, sync_state
from web.auth import Capability
from web.pagination import page
from web.texts import say
from web.transaction import audit_target

FINISHED = ("SUCCESS", "FAILURE")


@blp.route("/contacts", methods=["GET"])
@panel_page(Capability.VIEW)
def contacts_page():
    args = validated(ContactQuerySchema(), query_args(request.args, "q", "favorite", "cursor"))
    rows, next_cursor = page(contact_query(args), Contact.created_at, Contact.id, args["limit"], args["cursor"], db)
    sync = request.args.get("sync", "")
    return render_template("admin/contacts.html", rows=rows, next_cursor=next_cursor, args=args,
                           session=panel_session(), sessions=visible_sessions(),
                           sync=_task_id(sync), next=request.full_path.rstrip("?"))


def _task_id(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError:
        return None


@blp.route("/contacts/<uuid:contact_id>/favorite", methods=["POST"])
@panel_page(Capability.MANAGE)
def favorite_contact(contact_id: uuid.UUID):
    """Mark or unmark a favourite (as PATCH /api/whatsapp/contacts/{id} with isFavorite)."""
    contact = get_or_404(db, Contact, contact_id, "contact")
    args = validated(ContactPatchSchema(), {"isFavorite": request.form.get("favorite") == "on"})
    contact.is_favorite = args["isFavorite"]
    audit_target(f"contact:{contact.id}", action="contact.update", fields=["isFavorite"])
    target = request.form.get("next", "")
    return redirect(target if target.startswith("/admin/contacts") else url_for("admin.contacts_page"))


@blp.route("/contacts/sync", methods=["POST"])
@panel_page(Capability.MANAGE)
def sync_contacts():
    """Pull the phone's contacts through the session's worker; the page then follows the task."""
    session = panel_session()
    task_id = queue_sync(session)
    flash(say("Sincronizzazione dei contatti in coda"), "ok")
    return redirect(url_for("admin.contacts_page", session=session, sync=task_id))


@blp.route("/contacts/sync/<uuid:task_id>", methods=["GET"])
@panel_page(Capability.VIEW)
def sync_progress(task_id: uuid.UUID):
    """The live part of a sync: polled (no event announces a sync), until it finished."""
    state = sync_state(task_id)
    response = render_template("admin/_sync.html", state=state)
    return response, 200, ({"X-Panel-Final": "1"} if state["status"] in FINISHED else {})
