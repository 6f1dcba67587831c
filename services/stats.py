"""Message statistics, aggregated in PostgreSQL (never rows pulled into Python).

Whole-history counts come from `message_counts` (kept by triggers, see migration 0003), windows
of days from `ix_messages_created_at_id`, so /stats and /detailed-stats stay fast on millions of rows.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.redis import get_redis
from models.enums import Direction, MessageStatus
from services import dispatch
from services.messages import now

DONE = ("SENT", "DELIVERED", "READ")
TOP = 10


def _matrix(rows) -> dict:
    """{direction: {status: n, ..., "total": n}} with every direction and status present."""
    out = {d.value: {s.value: 0 for s in MessageStatus} for d in Direction}
    for direction, status, count in rows:
        out.setdefault(direction, {})[status] = out.get(direction, {}).get(status, 0) + count
    for counts in out.values():
        counts["total"] = sum(counts.values())
    return out


def success_rate(matrix: dict) -> float | None:
    """Share of finished outgoing messages that reached WhatsApp (SENT or later) rather than FAILED."""
    outgoing = matrix.get(Direction.OUTGOING.value, {})
    done = sum(outgoing.get(s, 0) for s in DONE)
    finished = done + outgoing.get("FAILED", 0)
    return round(done / finished, 4) if finished else None


def start_of_today(tz: str) -> datetime:
    local = now().astimezone(ZoneInfo(tz))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def queue_depth(session_name: str) -> dict:
    redis = get_redis()
    pipe = redis.pipeline()
    pipe.llen(dispatch.interactive_queue(session_name))
    pipe.llen(dispatch.bulk_queue(session_name))
    interactive, bulk = pipe.execute()
    return {"interactive": interactive, "bulk": bulk, "total": interactive + bulk}


def overview(session: Session, tz: str) -> dict:
    today = session.execute(text(
        "SELECT direction, status, count(*) FROM messages WHERE created_at >= :since GROUP BY 1, 2"),
        {"since": start_of_today(tz)}).all()
    total = session.execute(text(
        "SELECT direction, status, sum(count)::bigint FROM message_counts GROUP BY 1, 2")).all()
    today_matrix, total_matrix = _matrix(today), _matrix(total)
    return {"today": {"byDirection": today_matrix, "successRate": success_rate(today_matrix)},
            "total": {"byDirection": total_matrix, "successRate": success_rate(total_matrix)}}


def detailed(session: Session, days: int, tz: str) -> dict:
    """Per-day and per-hour series, top contacts, template usage, delivery times, failures.

    One scan of the window (GROUPING SETS) for the counts and one for the two medians."""
    since = start_of_today(tz) - timedelta(days=days - 1)
    params = {"since": since, "tz": tz}
    session.execute(text("SET LOCAL work_mem = '64MB'"))  # hash the grouping sets instead of sorting
    rows = session.execute(text("""
        SELECT GROUPING(date_trunc('hour', created_at AT TIME ZONE :tz), direction) AS by_hour,
               GROUPING(phone_number) AS by_phone, GROUPING(template_id) AS by_template,
               date_trunc('hour', created_at AT TIME ZONE :tz) AS hour, direction, phone_number, template_id,
               error_type, count(*) AS total,
               count(*) FILTER (WHERE status IN ('SENT', 'DELIVERED', 'READ')) AS done,
               count(*) FILTER (WHERE status = 'FAILED') AS failed
        FROM messages WHERE created_at >= :since
        GROUP BY GROUPING SETS ((date_trunc('hour', created_at AT TIME ZONE :tz), direction), (phone_number),
                                (template_id), (status, error_type))"""), params).all()
    timing = session.execute(text("""
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - created_at)),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - created_at))
                   FILTER (WHERE delivered_at IS NOT NULL)
        FROM messages WHERE created_at >= :since AND direction = 'outgoing' AND sent_at IS NOT NULL"""),
        params).one()
    hours: dict[datetime, dict] = {}
    phones, used, failures = [], [], {}
    for row in rows:
        if row.by_hour == 0:
            entry = hours.setdefault(row.hour, {"hour": row.hour.isoformat(), "incoming": 0, "outgoing": 0,
                                                "sent": 0, "failed": 0})
            entry[row.direction] = row.total
            if row.direction == Direction.OUTGOING.value:
                entry["sent"], entry["failed"] = row.done, row.failed
        elif row.by_phone == 0:
            phones.append((row.total, row.phone_number))
        elif row.by_template == 0:
            if row.template_id is not None:
                used.append((row.total, row.template_id))
        elif row.failed:
            failures[row.error_type or "UNKNOWN"] = failures.get(row.error_type or "UNKNOWN", 0) + row.failed
    per_day: dict[str, dict] = {}
    for hour in sorted(hours):
        day = per_day.setdefault(hour.date().isoformat(), {"date": hour.date().isoformat(), "incoming": 0,
                                                            "outgoing": 0, "sent": 0, "failed": 0})
        for key in ("incoming", "outgoing", "sent", "failed"):
            day[key] += hours[hour][key]
    top = sorted(phones, key=lambda item: (-item[0], item[1]))[:TOP]
    names = dict(session.execute(text(
        "SELECT phone_number, coalesce(name, pushname) FROM contacts WHERE phone_number = ANY(:numbers)"),
        {"numbers": [p for _n, p in top]}).all()) if top else {}
    used.sort(key=lambda item: -item[0])
    template_names = dict(session.execute(text("SELECT id, name FROM templates WHERE id = ANY(:ids)"),
                                          {"ids": [t for _n, t in used]}).all()) if used else {}
    return {
        "days": days, "since": since, "timezone": tz,
        "perDay": list(per_day.values()),
        "perHour": [hours[h] for h in sorted(hours)],
        "topContacts": [{"phoneNumber": p, "messages": n, "name": names.get(p)} for n, p in top],
        "templateUsage": [{"templateId": str(t), "name": template_names.get(t), "messages": n} for n, t in used],
        "medianSecondsToSent": None if timing[0] is None else round(float(timing[0]), 3),
        "medianSecondsToDelivered": None if timing[1] is None else round(float(timing[1]), 3),
        "failuresByType": dict(sorted(failures.items(), key=lambda item: -item[1])),
    }
