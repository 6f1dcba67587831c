"""One message to one number, as the API's /send, a template's /send and the admin panel's send
form all do it: the opt-out rule, then THE entry point (services.messages.enqueue)."""
from __future__ import annotations

from sqlalchemy.orm import Session

from models import Template
from services import messages, optout, templates
from services.phones import PhoneCheck


def send_one(session: Session, *, session_name: str, phone: PhoneCheck, text: str, user_id: str | None,
             transactional: bool = False, template: Template | None = None) -> messages.Queued:
    """Queue `text` (already sanitised or rendered) to `phone`; 409 when the number opted out and the
    message is not transactional. A template's usage is counted with the send."""
    optout.refuse_unless_transactional(session, phone.formatted, transactional)
    [queued] = messages.enqueue(session, session_name=session_name, phones=[phone], bodies=text, user_id=user_id,
                                template_id=template.id if template else None)
    if template is not None:
        templates.count_usage(session, template, 1)
    return queued
