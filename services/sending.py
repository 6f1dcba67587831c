"""One message to one recipient, as the API's /send, /send-media, a template's /send and the admin
panel's send form all do it: the opt-out rule, then THE entry point (services.messages.enqueue)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from models import Template
from services import messages, optout, templates

if TYPE_CHECKING:
    from services.media import Stored


def send_one(session: Session, *, session_name: str, phone: messages.Recipient, text: str | None,
             user_id: str | None, transactional: bool = False, template: Template | None = None,
             media: Stored | None = None) -> messages.Queued:
    """Queue `text` (already sanitised or rendered; a media's caption) to `phone`, a person or a
    group; 409 when the person opted out and the message is not transactional (groups have no
    opt-out). A template's usage is counted with the send."""
    if phone.formatted:
        optout.refuse_unless_transactional(session, phone.formatted, transactional)
    [queued] = messages.enqueue(session, session_name=session_name, phones=[phone], bodies=text, user_id=user_id,
                                template_id=template.id if template else None, media=media)
    if template is not None:
        templates.count_usage(session, template, 1)
    return queued
