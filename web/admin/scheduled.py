"""The scheduled page: one-off (a date and time) and recurring (cron in a time zone) messages and
campaigns, their next runs, cancel, and the past runs (live: `schedule.run` on the event stream).
The API's schema and helpers and services.scheduling, as /api/whatsapp/scheduled."""
from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from core.db import db, get_or_404
from core.errors import GatewayError
from models import ScheduledMessage, Template
from models.enums import ScheduleStatus
from services import scheduling
from services.recurrence import next_run, valid_zone
from web.admin.blueprint import blp, failure, panel_session, visible_sessions
from web.admin.forms import query_args, validated
from web.admin.security import panel_page
from web.api.scheduled import cancel_checked, guard_campaign, schedule_query, schedule_values
from web.api.scheduled_schemas import ScheduleInputSchema, ScheduleQuerySchema
from web.auth import Capability
from web.pagination import page
from web.session_scope import authorize_row_session
from web.texts import say
from web.transaction import audit_target

UPCOMING = 5  # next runs shown for a recurring schedule
STATUSES = [s.value for s in ScheduleStatus]


def _page(session: str, form: dict, status: int = 200, **context):
    args = validated(ScheduleQuerySchema(), query_args(request.args, "status", "cursor"))
    rows, next_cursor = page(schedule_query(session, args), ScheduledMessage.created_at, ScheduledMessage.id,
                             args["limit"], args["cursor"], db)
    active = db.scalars(select(Template).where(Template.is_active.is_(True)).order_by(Template.name).limit(200))
    return render_template("admin/scheduled.html", session=session, sessions=visible_sessions(), rows=rows,
                           next_cursor=next_cursor, args=args, statuses=STATUSES, templates=list(active),
                           form=form, timezone=current_app.config["SETTINGS"].timezone, **context), status


@blp.route("/scheduled", methods=["GET"])
@panel_page(Capability.VIEW)
def scheduled_page():
    return _page(panel_session(), {"kind": "once"})


def _aware(local: str, zone: str) -> str:
    """A datetime-local field (wall-clock time) in `zone`, as the API's ISO 8601 with its offset;
    left as typed when it is not a date or the zone is unknown (the schema then names the field)."""
    try:
        moment = datetime.fromisoformat(local)
    except ValueError:
        return local
    if moment.tzinfo is None and valid_zone(zone):
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment.isoformat()


def _posted() -> tuple[dict, dict]:
    """The form as typed, and as ScheduleInputSchema's fields: one recipient is `phoneNumber`,
    several `recipients`; a template or a text; `sendAt` or `cron`; variables one `name=value` a line."""
    form = {name: request.form.get(name, "") for name in (
        "recipients", "message", "templateId", "variables", "kind", "sendAt", "cron", "timezone", "endAt", "maxRuns")}
    numbers = [n.strip() for n in form["recipients"].replace(",", "\n").replace(";", "\n").splitlines() if n.strip()]
    zone = form["timezone"].strip() or current_app.config["SETTINGS"].timezone
    args: dict = {"timezone": zone}
    if len(numbers) == 1:
        args["phoneNumber"] = numbers[0]
    elif numbers:
        args["recipients"] = numbers
    if form["templateId"]:
        args["templateId"] = form["templateId"]
        args["variables"] = dict(line.split("=", 1) for line in form["variables"].splitlines() if "=" in line)
        args["variables"] = {k.strip(): v.strip() for k, v in args["variables"].items() if k.strip()}
    elif form["message"].strip():
        args["message"] = form["message"]
    if form["kind"] == "cron":
        if form["cron"].strip():
            args["cron"] = form["cron"].strip()
        if form["endAt"]:
            args["endAt"] = _aware(form["endAt"], zone)
        if form["maxRuns"].strip():
            args["maxRuns"] = form["maxRuns"].strip()
    elif form["sendAt"]:
        args["sendAt"] = _aware(form["sendAt"], zone)
    return form, args


@blp.route("/scheduled", methods=["POST"])
@panel_page(Capability.SEND)
def create_schedule():
    """As POST /api/whatsapp/scheduled: several recipients need the right to run campaigns."""
    session = panel_session()
    form, args = _posted()
    try:
        valid = validated(ScheduleInputSchema(), args)
        schedule = scheduling.create(db, session_name=session, user_id=g.principal.id, **schedule_values(valid))
        guard_campaign(schedule, valid.get("spread", False))  # a campaign over the day's cap: 422, as the API
    except GatewayError as error:  # the form again, with what was typed
        db.rollback()
        return _page(session, form, error.status, error=failure(error))
    audit_target(f"schedule:{schedule.id}", action="schedule.create", recipients=len(schedule.recipients),
                 recurring=bool(schedule.cron))
    first = schedule.next_run_at.astimezone(ZoneInfo(schedule.timezone))
    flash(say("Programmato: primo invio {at}", at=f"{first:%d/%m/%Y %H:%M}"), "ok")
    return redirect(url_for("admin.schedule_page", schedule_id=schedule.id))


def _schedule(schedule_id: uuid.UUID) -> ScheduledMessage:
    schedule = get_or_404(db, ScheduledMessage, schedule_id, "scheduled message")
    authorize_row_session(schedule.session)
    return schedule


def upcoming(schedule: ScheduledMessage) -> list[datetime]:
    """The next runs: the pending one, then (recurring) the following ones within endAt and maxRuns."""
    if schedule.status != ScheduleStatus.ACTIVE.value or schedule.next_run_at is None:
        return []
    runs = [schedule.next_run_at]
    left = None if schedule.max_runs is None else schedule.max_runs - schedule.run_count
    while schedule.cron and len(runs) < UPCOMING and (left is None or len(runs) < left):
        following = next_run(schedule.cron, schedule.timezone, runs[-1])
        if schedule.end_at is not None and following > schedule.end_at:
            break
        runs.append(following)
    return runs


@blp.route("/scheduled/<uuid:schedule_id>", methods=["GET"])
@panel_page(Capability.VIEW)
def schedule_page(schedule_id: uuid.UUID):
    schedule = _schedule(schedule_id)
    template = db.get(Template, schedule.template_id) if schedule.template_id else None
    return render_template("admin/schedule.html", schedule=schedule, template=template, upcoming=upcoming(schedule),
                           runs=scheduling.runs_of(db, schedule), zone=ZoneInfo(schedule.timezone))


@blp.route("/scheduled/<uuid:schedule_id>/runs", methods=["GET"])
@panel_page(Capability.VIEW)
def schedule_runs(schedule_id: uuid.UUID):
    """The live part of a schedule's page (its state, next runs and past runs), on `schedule.run`."""
    schedule = _schedule(schedule_id)
    return render_template("admin/_schedule_runs.html", schedule=schedule, upcoming=upcoming(schedule),
                           runs=scheduling.runs_of(db, schedule), zone=ZoneInfo(schedule.timezone))


@blp.route("/scheduled/<uuid:schedule_id>/cancel", methods=["POST"])
@panel_page(Capability.SEND)
def cancel_schedule(schedule_id: uuid.UUID):
    """No further run (what past runs queued goes on); a campaign needs the right to run them."""
    schedule = cancel_checked(schedule_id)
    flash(say("Programmazione annullata"), "ok")
    return redirect(url_for("admin.schedule_page", schedule_id=schedule.id))
