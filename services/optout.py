"""Opt-out: people who asked not to be written to.

An incoming message that is, as a whole, one of OPT_OUT_KEYWORDS (case, spaces and trailing
punctuation aside: "Stop.", " annulla ") opts its sender out; one of OPT_IN_KEYWORDS opts them back
in, as can an admin (PATCH /api/whatsapp/contacts/{id}). Opted-out people are skipped by bulk sends,
template bulks and campaigns (reported with the job's invalid recipients), and a single send to them
is refused with 409 unless the caller marks it transactional (an order confirmation, a reply they
asked for), which the audit row records.
"""
from __future__ import annotations

import string
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import GatewayError
from models.enums import ErrorType
from core.settings import Settings
from models import Contact
from services import contacts, events
from services.messages import now

OPTED_OUT_REASON = "opted out"


def keyword(body: str | None, settings: Settings) -> str | None:
    """"out", "in" or None for an incoming message's text."""
    if not body or len(body) > 40:
        return None
    word = body.strip().strip(string.punctuation + " ").upper()
    opt_out, opt_in = settings.opt_keywords
    return "out" if word in opt_out else "in" if word in opt_in else None


def set_opted_out(session: Session, phone_number: str, opted_out: bool, reason: str | None,
                  session_name: str | None = None) -> None:
    """Opt a number out (with why: the message or who) or back in, creating its contact if need be;
    a `contact.opt_out` event says so (`session_name`: the session the keyword came through)."""
    contacts.upsert(session, phone_number)
    contact = session.scalar(select(Contact).where(Contact.phone_number == phone_number).with_for_update())
    contact.opted_out_at = now() if opted_out else None
    contact.opt_out_reason = (reason or "")[:500] or None if opted_out else None
    events.record(session, "contact.opt_out", session_name, [{
        "phoneNumber": phone_number, "optedOut": opted_out, "optedOutAt": contact.opted_out_at,
        "reason": contact.opt_out_reason}])


def opted_out(session: Session, phone_numbers: list[str]) -> dict[str, datetime]:
    """The opted-out ones among `phone_numbers`, with when."""
    if not phone_numbers:
        return {}
    return dict(session.execute(select(Contact.phone_number, Contact.opted_out_at).where(
        Contact.phone_number.in_(phone_numbers), Contact.opted_out_at.is_not(None))).all())


def refuse_unless_transactional(session: Session, phone_number: str, transactional: bool) -> None:
    """A single send to an opted-out number: 409, unless the caller says it is transactional."""
    if transactional:
        return
    when = opted_out(session, [phone_number]).get(phone_number)
    if when is not None:
        raise GatewayError(
            409, f'{phone_number} opted out on {when:%Y-%m-%d}: send with "transactional": true only for a '
                 "message they expect (an order, an appointment)", ErrorType.CONFLICT,
            details={"phoneNumber": [OPTED_OUT_REASON]})
