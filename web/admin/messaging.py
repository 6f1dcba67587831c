"""Send (one message, or a template with a preview) and Messages (conversations by number, each
one chat-like with live status ticks). The same services as the API's /send and /messages."""
from __future__ import annotations

import uuid

from flask import current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from core.db import db, get_or_404
from core.errors import GatewayError
from models import Message, MessageEvent, Template
from models.enums import Direction, MessageStatus
from services import conversations, messages, sending, templates
from services.phones import check_number
from web.admin.blueprint import blp, failure, panel_session, visible_sessions
from web.admin.security import panel_page
from web.api.messages import valid_phone
from web.auth import Capability
from web.pagination import contains_pattern
from web.session_scope import authorize_row_session
from web.texts import say
from web.transaction import audit_target

def _form(*names: str) -> dict[str, str]:
    return {name: request.form.get(name, "") for name in names}  # lengths: checked as the API checks them


def _send_page(session: str, status: int = 200, **context):
    active = db.scalars(select(Template).where(Template.is_active.is_(True)).order_by(Template.name).limit(200))
    chosen = context.pop("template", None)
    if chosen is None and request.values.get("template"):
        chosen = _template_or_none(request.values["template"])
    keys = []
    if chosen is not None:
        keys = list(dict.fromkeys([v["key"] for v in chosen.variables] + templates.placeholders(chosen.content)))
    return render_template("admin/send.html", session=session, sessions=visible_sessions(), templates=list(active),
                           template=chosen, keys=keys, **context), status


def _template_or_none(raw: str) -> Template | None:
    try:
        return db.get(Template, uuid.UUID(raw))
    except ValueError:
        return None


@blp.route("/send", methods=["GET"])
@panel_page(Capability.SEND)
def send_page():
    return _send_page(panel_session(), form={})


@blp.route("/send/check", methods=["GET"])
@panel_page(Capability.SEND)
def check_phone():
    """The number as typed, checked as the API's /send checks it (a fragment shown beside the field)."""
    raw = request.args.get("phoneNumber", "")[:64]
    check = check_number(raw, current_app.config["SETTINGS"].default_country) if raw.strip() else None
    return render_template("admin/_phone_check.html", check=check)


@blp.route("/send", methods=["POST"])
@panel_page(Capability.SEND)
def send_text():
    """One text message to one number (services.sending.send_one, as POST /api/whatsapp/send)."""
    session = panel_session()
    form = _form("phoneNumber", "message")
    transactional = request.form.get("transactional") == "on"
    try:
        phone = valid_phone(form["phoneNumber"])
        text = messages.sanitise_text(form["message"])
        queued = sending.send_one(db, session_name=session, phone=phone, text=text,
                                  user_id=g.principal.id, transactional=transactional)
    except GatewayError as error:  # shown in the form, which keeps what was typed
        return _send_page(session, error.status, form=form, error=failure(error))
    audit_target(f"message:{queued.id}", action="message.send", phoneNumber=phone.formatted,
                 **({"transactional": True} if transactional else {}))
    flash(say("Messaggio in coda per +{phone}", phone=phone.formatted), "ok")
    return redirect(url_for("admin.conversation_page", phone_number=phone.formatted, session=session))


@blp.route("/send/template", methods=["POST"])
@panel_page(Capability.SEND)
def send_template():
    """Preview (`action=preview`) or send a template with its variables (as the API's template /send)."""
    session = panel_session()
    template = _template_or_none(request.form.get("template", ""))
    if template is None:
        raise GatewayError(404, "no such template")
    form = _form("phoneNumber")
    values = {key[4:]: value for key, value in request.form.items() if key.startswith("var_") and value}
    rendering = templates.render(template, values)
    if request.form.get("action") == "preview":
        return _send_page(session, template=template, form=form, values=values, preview=rendering)
    transactional = request.form.get("transactional") == "on"
    try:
        phone = valid_phone(form["phoneNumber"])
        text, template = templates.render_for(db, template.id, values)
        queued = sending.send_one(db, session_name=session, phone=phone, text=text, user_id=g.principal.id,
                                  transactional=transactional, template=template)
    except GatewayError as error:
        return _send_page(session, error.status, template=template, form=form, values=values,
                          preview=rendering, error=failure(error))
    audit_target(f"message:{queued.id}", action="template.send", template=str(template.id),
                 phoneNumber=phone.formatted, **({"transactional": True} if transactional else {}))
    flash(say("Messaggio «{name}» in coda per +{phone}", name=template.name, phone=phone.formatted), "ok")
    return redirect(url_for("admin.conversation_page", phone_number=phone.formatted, session=session))


@blp.route("/messages", methods=["GET"])
@panel_page(Capability.VIEW)
def messages_page():
    session = panel_session()
    q = request.args.get("q", "")[:200].strip()
    number = check_number(q, current_app.config["SETTINGS"].default_country, describe=False) if q else None
    if number is not None and number.is_valid:  # a number: its conversation (an index lookup)
        found = conversations.latest(db, session, phone_number=number.formatted)
    else:  # words: in the text (the trigram index)
        found = conversations.latest(db, session, pattern=contains_pattern(q) if q else None)
    return render_template("admin/messages.html", session=session, sessions=visible_sessions(), q=q,
                           conversations=found, scanned=conversations.SCANNED)


@blp.route("/messages/<phone:phone_number>", methods=["GET"])
@panel_page(Capability.VIEW)
def conversation_page(phone_number: str):
    session = panel_session()
    phone = valid_phone(phone_number).formatted
    return render_template("admin/conversation.html", session=session, phone=phone,
                           chat=conversations.chat(db, session, phone))


@blp.route("/messages/<phone:phone_number>/chat", methods=["GET"])
@panel_page(Capability.VIEW)
def conversation_chat(phone_number: str):
    """The live part of a conversation (its messages and their ticks), polled."""
    session = panel_session()
    phone = valid_phone(phone_number).formatted
    return render_template("admin/_chat.html", chat=conversations.chat(db, session, phone), phone=phone,
                           session=session)


@blp.route("/messages/<phone:phone_number>/read", methods=["POST"])
@panel_page(Capability.VIEW)
def mark_conversation_read(phone_number: str):
    """Mark the conversation's incoming messages read and send WhatsApp the read receipt."""
    session = panel_session()
    phone = valid_phone(phone_number).formatted
    unread = db.scalars(select(Message).where(Message.session == session, Message.phone_number == phone,
                                              Message.direction == Direction.INCOMING.value,
                                              Message.status != MessageStatus.READ.value))
    changed = messages.mark_read(db, list(unread))
    audit_target(f"conversation:{phone}", action="message.read", messages=len(changed))
    return redirect(url_for("admin.conversation_page", phone_number=phone, session=session))


@blp.route("/messages/<uuid:message_id>", methods=["GET"])
@panel_page(Capability.VIEW)
def message_page(message_id: uuid.UUID):
    """One message and its status history (each transition, every retry and failure)."""
    message = get_or_404(db, Message, message_id, "message")
    authorize_row_session(message.session)
    events = list(db.scalars(select(MessageEvent).where(MessageEvent.message_id == message.id)))
    return render_template("admin/message.html", message=message, history=messages.history(message, events))
