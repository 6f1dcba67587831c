"""Scheduled messages and campaigns: creating, changing and cancelling them (API side), and
running the due ones (beat side, `dispatch_due`).

Schedules live in PostgreSQL and beat polls them every few seconds (DESIGN.md §1: no long ETAs
on the broker). A run creates ordinary pipeline messages - one through `messages.enqueue`,
many through a `campaign` bulk job - so every scheduled send is paced, retried and traceable.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import get_or_404
from core.errors import GatewayError
from models import Message, ScheduledMessage, ScheduledRun
from models.enums import ErrorType, ScheduleStatus
from services import bulk, events, media, messages, optout
from services.messages import now
from services.phones import check_number
from services.recurrence import next_run
from services.templates import render_for

log = logging.getLogger(__name__)

SENT, SKIPPED = "SENT", "SKIPPED"
MAX_SKIPPED_RECORDS = 50  # missed runs recorded one by one per dispatch; the rest in one row


def render(session: Session, template_id, variables: dict[str, Any]) -> str:
    """The template's text with `variables`; 404, 409 (inactive) or 422 (missing variables)."""
    text, _template = render_for(session, template_id, variables)
    return text


def _check_content(session: Session, values: dict[str, Any], session_name: str) -> None:
    media.attachment(session, values.get("media_id"), session_name)  # 422 now, not at run time
    if values.get("template_id") is not None:
        render(session, values["template_id"], values.get("variables") or {})  # 404/409/422 now, not at run time
        values["body"] = None
    else:
        values["body"] = messages.sanitise_text(values["body"])
        values["template_id"], values["variables"] = None, {}


def _first_run(values: dict[str, Any], at: datetime) -> datetime:
    if values.get("cron"):
        first = next_run(values["cron"], values["timezone"], at)
    else:
        first = values["send_at"]
        if first <= at:
            raise GatewayError(422, "sendAt is in the past", details={"sendAt": ["must be in the future"]})
    if values.get("end_at") is not None and first > values["end_at"]:
        raise GatewayError(422, "endAt is before the first run", details={"endAt": [f"first run {first.isoformat()}"]})
    return first


def create(session: Session, *, session_name: str, user_id: str | None, **values: Any) -> ScheduledMessage:
    """`values`: recipients (E.164 digits), body or template_id + variables, send_at or cron + timezone,
    end_at, max_runs - already validated in shape by the API schema."""
    _check_content(session, values, session_name)
    schedule = ScheduledMessage(session=session_name, created_by=user_id, run_count=0,
                                status=ScheduleStatus.ACTIVE.value, **values)
    schedule.next_run_at = _first_run(values, now())
    session.add(schedule)
    session.flush()
    return schedule


FIELDS = ("recipients", "body", "template_id", "variables", "media_id", "send_at", "cron", "timezone", "end_at",
          "max_runs")


def lock_for_change(session: Session, schedule_id) -> ScheduledMessage:
    """The schedule, row-locked; 409 once it is due (dispatch may be sending it) or finished."""
    schedule = get_or_404(session, ScheduledMessage, schedule_id, "scheduled message", for_update=True)
    if schedule.status != ScheduleStatus.ACTIVE.value:
        raise GatewayError(409, f"the schedule is {schedule.status}", ErrorType.CONFLICT)
    if schedule.next_run_at is not None and schedule.next_run_at <= now():
        raise GatewayError(409, "the schedule is due and being sent: it can no longer change", ErrorType.CONFLICT)
    return schedule


def update(session: Session, schedule: ScheduledMessage, values: dict[str, Any]) -> ScheduledMessage:
    """Replace the schedule's definition with `values` (complete, as for create)."""
    _check_content(session, values, schedule.session)
    first = _first_run(values, now())
    for name in FIELDS:
        setattr(schedule, name, values.get(name))
    schedule.next_run_at = first
    session.flush()
    return schedule


def current_values(schedule: ScheduledMessage) -> dict[str, Any]:
    return {name: getattr(schedule, name) for name in FIELDS}


def cancel(session: Session, schedule_id) -> ScheduledMessage:
    schedule = get_or_404(session, ScheduledMessage, schedule_id, "scheduled message", for_update=True)
    if schedule.status != ScheduleStatus.ACTIVE.value:
        raise GatewayError(409, f"the schedule is {schedule.status}, only an ACTIVE one can be cancelled",
                           ErrorType.CONFLICT)
    schedule.status = ScheduleStatus.CANCELLED.value
    schedule.next_run_at = None
    return schedule


def runs_of(session: Session, schedule: ScheduledMessage) -> list[dict[str, Any]]:
    """Past runs, newest first, each with the messages it queued."""
    runs = list(session.scalars(select(ScheduledRun).where(ScheduledRun.scheduled_message_id == schedule.id)
                                .order_by(ScheduledRun.due_at.desc(), ScheduledRun.id.desc())))
    result = []
    for run in runs:
        if run.bulk_job_id is not None:
            rows = session.scalars(select(Message).where(Message.bulk_job_id == run.bulk_job_id))
        elif run.message_id is not None:
            rows = session.scalars(select(Message).where(Message.id == run.message_id))
        else:
            rows = []
        result.append({"id": run.id, "dueAt": run.due_at, "ranAt": run.ran_at, "outcome": run.outcome,
                       "reason": run.reason, "jobId": run.bulk_job_id, "messages": list(rows)})
    return result


# -- the beat side ------------------------------------------------------------------------------
@dataclass
class DispatchReport:
    sent: int = 0
    skipped: int = 0
    finished: int = 0
    failed: list[str] = field(default_factory=list)


def dispatch_due(session: Session, *, grace_seconds: float, country: str, at: datetime | None = None,
                 batch: int = 100) -> DispatchReport:
    """Run every ACTIVE schedule whose time has come. Rows are claimed with FOR UPDATE SKIP LOCKED:
    a second dispatcher running at the same time (two beats by mistake) skips them, and once the
    first commits their next_run_at has moved on - no schedule is ever sent twice."""
    at = at or now()
    report = DispatchReport()
    due = session.scalars(
        select(ScheduledMessage)
        .where(ScheduledMessage.status == ScheduleStatus.ACTIVE.value, ScheduledMessage.next_run_at <= at)
        .order_by(ScheduledMessage.next_run_at).limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    for schedule in due:
        with session.begin_nested():
            _run_due(session, schedule, at, timedelta(seconds=grace_seconds), country, report)
    return report


def _following(schedule: ScheduledMessage, after: datetime) -> datetime | None:
    if not schedule.cron:
        return None
    following = next_run(schedule.cron, schedule.timezone, after)
    if schedule.end_at is not None and following > schedule.end_at:
        return None
    return following


def _record(session: Session, schedule: ScheduledMessage, due_at: datetime, outcome: str, reason: str | None = None,
            **links: Any) -> None:
    run = ScheduledRun(scheduled_message_id=schedule.id, due_at=due_at, ran_at=now(), outcome=outcome,
                       reason=reason, **links)
    session.add(run)
    session.flush()  # the run's id is in its event
    events.record(session, "schedule.run", schedule.session, [events.schedule_run_payload(schedule, run)])


def _run_due(session: Session, schedule: ScheduledMessage, at: datetime, grace: timedelta, country: str,
             report: DispatchReport) -> None:
    due: datetime | None = schedule.next_run_at
    recorded = 0
    while due is not None and at - due > grace:
        if recorded == MAX_SKIPPED_RECORDS:
            first_missed = due
            due = _following(schedule, at - grace - timedelta(microseconds=1))
            _record(session, schedule, first_missed, SKIPPED,
                    f"further runs from {first_missed.isoformat()} missed while the gateway was down")
            report.skipped += 1
            break
        late = int((at - due).total_seconds())
        _record(session, schedule, due, SKIPPED,
                f"missed by {late} s, more than the grace period of {int(grace.total_seconds())} s")
        report.skipped += 1
        recorded += 1
        due = _following(schedule, due)
    if due is not None and due <= at:
        _send(session, schedule, due, country, report)
        schedule.run_count += 1
        if schedule.max_runs is not None and schedule.run_count >= schedule.max_runs:
            due = None
        else:
            due = _following(schedule, due)
    schedule.next_run_at = due
    if due is None:
        schedule.status = ScheduleStatus.DONE.value
        report.finished += 1


def _send(session: Session, schedule: ScheduledMessage, due: datetime, country: str, report: DispatchReport) -> None:
    try:
        text = schedule.body if schedule.template_id is None else render(session, schedule.template_id,
                                                                          schedule.variables or {})
    except GatewayError as exc:
        _record(session, schedule, due, SKIPPED, f"the template cannot be used: {exc.message}")
        report.skipped += 1
        report.failed.append(str(schedule.id))
        return
    try:
        stored = media.attachment(session, schedule.media_id, schedule.session)
    except GatewayError:
        _record(session, schedule, due, SKIPPED, "the attached file is no longer stored")
        report.skipped += 1
        report.failed.append(str(schedule.id))
        return
    recipients = [f"+{number}" for number in schedule.recipients]
    if len(recipients) == 1:
        phone = check_number(recipients[0], country)
        if optout.opted_out(session, [phone.formatted]):
            _record(session, schedule, due, SKIPPED, f"{phone.formatted} opted out")
            report.skipped += 1
            return
        [message] = messages.enqueue(session, session_name=schedule.session, phones=[phone], bodies=text,
                                     user_id=schedule.created_by, template_id=schedule.template_id,
                                     scheduled_message_id=schedule.id, media=stored)
        _record(session, schedule, due, SENT, message_id=message.id)
    else:
        job, _valid, _invalid = bulk.create_job(session, session_name=schedule.session, recipients=recipients,
                                                body=text, country=country, user_id=schedule.created_by,
                                                kind="campaign", template_id=schedule.template_id,
                                                scheduled_message_id=schedule.id, media=stored)
        _record(session, schedule, due, SENT, bulk_job_id=job.id)
    report.sent += 1
    log.info("schedule %s: run due %s queued", schedule.id, due.isoformat())
