"""Message statistics, aggregated in PostgreSQL (never rows pulled into Python).

Whole-history counts come from `message_counts` (kept by triggers, see migration 0003), today's from
`ix_messages_session_created_id`, windows of days from the rollups of migrations 0004 and 0007
(models/stats.py), so /stats and /detailed-stats stay fast on millions of rows. Every figure is one
WhatsApp session's.
"""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from models.enums import Direction, MessageStatus
from models.stats import NO_TEMPLATE
from services.messages import now

DONE = ("SENT", "DELIVERED", "READ")
TOP = 10
EXACT_MEDIAN_MESSAGES = 5000  # /detailed-stats windows up to this many messages: exact medians
LATENCY_STEPS = 16  # latency histogram buckets per doubling, as SQL message_latency_bucket() (0004)


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


def overview(session: Session, tz: str, session_name: str) -> dict:
    """Today's and all-time counts of one WhatsApp session's messages."""
    today = session.execute(text(
        "SELECT direction, status, count(*) FROM messages WHERE created_at >= :since AND session = :session "
        "GROUP BY 1, 2"), {"since": start_of_today(tz), "session": session_name}).all()
    total = session.execute(text(
        "SELECT direction, status, sum(count)::bigint FROM message_counts WHERE session = :session GROUP BY 1, 2"),
        {"session": session_name}).all()
    today_matrix, total_matrix = _matrix(today), _matrix(total)
    return {"today": {"byDirection": today_matrix, "successRate": success_rate(today_matrix)},
            "total": {"byDirection": total_matrix, "successRate": success_rate(total_matrix)}}


def window_start(days: int, tz: str) -> datetime:
    """Local midnight `days - 1` days before today: the window is [this, now]."""
    return start_of_today(tz) - timedelta(days=days - 1)


def _whole_hour_offsets(tz: str, since: datetime) -> bool:
    """Whether the zone's UTC offset is a whole number of hours all through the window, so that
    its local hours are UTC hours (the rollups' buckets). Offsets change at most a few times a year:
    one look a day is enough."""
    zone, moment, end = ZoneInfo(tz), since, now() + timedelta(days=1)
    while moment <= end:
        offset = moment.astimezone(zone).utcoffset()
        if offset is None or offset.total_seconds() % 3600:
            return False
        moment += timedelta(days=1)
    return True


def detailed(session: Session, days: int, tz: str, session_name: str) -> dict:
    """Per-day and per-hour series, top contacts, template usage, delivery times, failures of one
    WhatsApp session's messages of the last `days` days (local time of `tz`), read from the rollups.

    The medians are exact (percentile_cont over the messages) while the window holds at most
    EXACT_MEDIAN_MESSAGES messages; beyond, they are the medians of the log-scale latency histogram
    (16 buckets per doubling, interpolated inside the bucket: within 4.5% of the exact median)."""
    since = window_start(days, tz)
    if not _whole_hour_offsets(tz, since):
        return detailed_scan(session, days, tz, session_name)
    params = {"since": since, "tz": tz, "session": session_name}
    rows = session.execute(text("""
        SELECT GROUPING(hour, direction) AS by_hour, GROUPING(template_id) AS by_template,
               hour, direction, template_id, error_type, sum(count) AS total,
               coalesce(sum(count) FILTER (WHERE status IN ('SENT', 'DELIVERED', 'READ')), 0) AS done,
               coalesce(sum(count) FILTER (WHERE status = 'FAILED'), 0) AS failed
        FROM (SELECT date_trunc('hour', hour AT TIME ZONE :tz) AS hour, direction, status, error_type,
                     template_id, count
              FROM message_hourly_counts WHERE session = :session AND hour >= :since) r
        GROUP BY GROUPING SETS ((hour, direction), (template_id), (error_type))"""), params).all()
    hours: dict[datetime, dict] = {}
    used, failures, messages = [], {}, 0
    for row in rows:
        if row.by_hour == 0:
            if row.total:
                _hour_entry(hours, row.hour, row.direction, row.total, row.done, row.failed)
                messages += row.total
        elif row.by_template == 0:
            if row.total and row.template_id != NO_TEMPLATE:
                used.append((row.total, row.template_id))
        elif row.failed:
            failures[row.error_type or "UNKNOWN"] = failures.get(row.error_type or "UNKNOWN", 0) + row.failed
    # Daily rollups (UTC days) cover the window from its first whole UTC day on; the hours before
    # it (since is a local midnight) come from the messages themselves, through the created_at index.
    first_day = since.astimezone(UTC).date()
    if datetime.combine(first_day, time(), UTC) < since:
        first_day += timedelta(days=1)
    params.update(first_day=first_day, head_end=datetime.combine(first_day, time(), UTC))
    top = [(n, p) for p, n in session.execute(text("""
        SELECT phone_number, sum(n)::bigint FROM (
            SELECT phone_number, count AS n FROM message_daily_phones
            WHERE session = :session AND day >= :first_day
            UNION ALL
            SELECT phone_number, 1 FROM messages
            WHERE session = :session AND created_at >= :since AND created_at < :head_end
              AND phone_number IS NOT NULL) x
        GROUP BY 1 HAVING sum(n) > 0 ORDER BY 2 DESC, 1 LIMIT :top"""), {**params, "top": TOP}).all()]
    if messages <= EXACT_MEDIAN_MESSAGES:
        medians = _exact_medians(session, since, session_name)
    else:
        histogram: dict[str, list[tuple[int, int]]] = {"sent": [], "delivered": []}
        for kind, bucket, n in session.execute(text("""
                SELECT kind, bucket, sum(n)::bigint FROM (
                    SELECT kind, bucket, count AS n FROM message_latency_daily
                    WHERE session = :session AND day >= :first_day
                    UNION ALL
                    SELECT l.kind, message_latency_bucket(l.at - m.created_at), 1
                    FROM messages m CROSS JOIN LATERAL (VALUES
                        ('sent', m.sent_at),
                        ('delivered', CASE WHEN m.sent_at IS NOT NULL THEN m.delivered_at END)) l(kind, at)
                    WHERE m.session = :session AND m.created_at >= :since AND m.created_at < :head_end
                      AND m.direction = 'outgoing'
                      AND l.at IS NOT NULL) x
                GROUP BY 1, 2 HAVING sum(n) > 0 ORDER BY 1, 2"""), params):
            histogram[kind].append((bucket, n))
        medians = (histogram_median(histogram["sent"]), histogram_median(histogram["delivered"]))
    return _answer(session, days, since, tz, hours, top, used, failures, medians)


def daily(session: Session, days: int, tz: str, session_name: str) -> dict:
    """The per-day series and failures by type of detailed(), alone: one GROUP BY on the hourly
    rollup (no top contacts, no medians), for the admin panel's monitoring page, which shows only
    these and must answer within 300 ms over 90 days. Zones with a non-whole-hour offset (whose
    local days do not fall on the rollup's UTC hours) take detailed()'s exact path."""
    since = window_start(days, tz)
    if not _whole_hour_offsets(tz, since):
        full = detailed_scan(session, days, tz, session_name)
        return {"days": days, "perDay": full["perDay"], "failuresByType": full["failuresByType"]}
    rows = session.execute(text("""
        SELECT (hour AT TIME ZONE :tz)::date AS day, direction, status, error_type, sum(count) AS n
        FROM message_hourly_counts WHERE session = :session AND hour >= :since
        GROUP BY 1, 2, 3, 4 HAVING sum(count) > 0 ORDER BY 1"""),
        {"since": since, "tz": tz, "session": session_name}).all()
    per_day: dict[str, dict] = {}
    failures: dict[str, int] = {}
    for row in rows:
        date = row.day.isoformat()
        day = per_day.setdefault(date, {"date": date, "incoming": 0, "outgoing": 0, "sent": 0, "failed": 0})
        day[row.direction] += row.n
        if row.direction == Direction.OUTGOING.value and row.status in DONE:
            day["sent"] += row.n
        elif row.direction == Direction.OUTGOING.value and row.status == MessageStatus.FAILED.value:
            day["failed"] += row.n
            failures[row.error_type or "UNKNOWN"] = failures.get(row.error_type or "UNKNOWN", 0) + row.n
    return {"days": days, "perDay": list(per_day.values()),
            "failuresByType": dict(sorted(failures.items(), key=lambda item: (-item[1], item[0])))}


def _bucket_bounds(bucket: int) -> tuple[float, float]:
    """Seconds [low, high) of a latency bucket (see models.stats.MessageLatencyDaily)."""
    if bucket <= 0:
        return 0.0, 0.001
    return 2 ** ((bucket - 1) / LATENCY_STEPS) / 1000, 2 ** (bucket / LATENCY_STEPS) / 1000


def histogram_median(buckets: list[tuple[int, int]]) -> float | None:
    """percentile_cont(0.5) of the samples a histogram [(bucket, count)] stands for, each sample at
    its rank's place inside its bucket (geometric interpolation; linear in bucket 0)."""
    buckets = sorted((b, n) for b, n in buckets if n > 0)
    total = sum(n for _b, n in buckets)
    if not total:
        return None

    def value(rank: int) -> float:
        seen = 0
        for bucket, n in buckets:
            if rank < seen + n:
                low, high = _bucket_bounds(bucket)
                share = (rank - seen + 0.5) / n
                return low + (high - low) * share if bucket <= 0 else low * (high / low) ** share
            seen += n
        raise AssertionError("rank beyond the histogram")

    middle = (total - 1) / 2
    return (value(int(middle)) + value(int(middle + 0.5))) / 2


def _exact_medians(session: Session, since: datetime,
                   session_name: str) -> tuple[float | None, float | None]:
    timing = session.execute(text("""
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - created_at)),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - created_at))
                   FILTER (WHERE delivered_at IS NOT NULL)
        FROM messages
        WHERE session = :session AND created_at >= :since AND direction = 'outgoing'
          AND sent_at IS NOT NULL"""),
        {"since": since, "session": session_name}).one()
    return (None if timing[0] is None else float(timing[0]), None if timing[1] is None else float(timing[1]))


def _hour_entry(hours: dict, hour: datetime, direction: str, total: int, done: int, failed: int) -> None:
    entry = hours.setdefault(hour, {"hour": hour.isoformat(), "incoming": 0, "outgoing": 0, "sent": 0,
                                    "failed": 0})
    entry[direction] = total
    if direction == Direction.OUTGOING.value:
        entry["sent"], entry["failed"] = done, failed


def detailed_scan(session: Session, days: int, tz: str, session_name: str) -> dict:
    """detailed() computed straight from the messages of the window: one scan (GROUPING SETS) for
    the counts and one for the two exact medians. Used when the zone's UTC offset is not a whole
    number of hours (the rollups' buckets are UTC hours), and by the tests as the reference."""
    since = window_start(days, tz)
    session.execute(text("SET LOCAL work_mem = '64MB'"))  # hash the grouping sets instead of sorting
    rows = session.execute(text("""
        SELECT GROUPING(date_trunc('hour', created_at AT TIME ZONE :tz), direction) AS by_hour,
               GROUPING(phone_number) AS by_phone, GROUPING(template_id) AS by_template,
               date_trunc('hour', created_at AT TIME ZONE :tz) AS hour, direction, phone_number, template_id,
               error_type, count(*) AS total,
               count(*) FILTER (WHERE status IN ('SENT', 'DELIVERED', 'READ')) AS done,
               count(*) FILTER (WHERE status = 'FAILED') AS failed
        FROM messages WHERE session = :session AND created_at >= :since
        GROUP BY GROUPING SETS ((date_trunc('hour', created_at AT TIME ZONE :tz), direction), (phone_number),
                                (template_id), (status, error_type))"""),
        {"since": since, "tz": tz, "session": session_name}).all()
    hours: dict[datetime, dict] = {}
    phones, used, failures = [], [], {}
    for row in rows:
        if row.by_hour == 0:
            _hour_entry(hours, row.hour, row.direction, row.total, row.done, row.failed)
        elif row.by_phone == 0:
            if row.phone_number is not None:  # a sender known only by a LID so far (services/lids.py)
                phones.append((row.total, row.phone_number))
        elif row.by_template == 0:
            if row.template_id is not None:
                used.append((row.total, row.template_id))
        elif row.failed:
            failures[row.error_type or "UNKNOWN"] = failures.get(row.error_type or "UNKNOWN", 0) + row.failed
    top = sorted(phones, key=lambda item: (-item[0], item[1]))[:TOP]
    return _answer(session, days, since, tz, hours, top, used, failures,
                   _exact_medians(session, since, session_name))


def _answer(session: Session, days: int, since: datetime, tz: str, hours: dict, top: list, used: list,
            failures: dict, medians: tuple[float | None, float | None]) -> dict:
    per_day: dict[str, dict] = {}
    for hour in sorted(hours):
        day = per_day.setdefault(hour.date().isoformat(), {"date": hour.date().isoformat(), "incoming": 0,
                                                            "outgoing": 0, "sent": 0, "failed": 0})
        for key in ("incoming", "outgoing", "sent", "failed"):
            day[key] += hours[hour][key]
    names = dict(session.execute(text(
        "SELECT phone_number, coalesce(name, pushname) FROM contacts WHERE phone_number = ANY(:numbers)"),
        {"numbers": [p for _n, p in top]}).all()) if top else {}
    used.sort(key=lambda item: (-item[0], str(item[1])))
    template_names = dict(session.execute(text("SELECT id, name FROM templates WHERE id = ANY(:ids)"),
                                          {"ids": [t for _n, t in used]}).all()) if used else {}
    return {
        "days": days, "since": since, "timezone": tz,
        "perDay": list(per_day.values()),
        "perHour": [hours[h] for h in sorted(hours)],
        "topContacts": [{"phoneNumber": p, "messages": n, "name": names.get(p)} for n, p in top],
        "templateUsage": [{"templateId": str(t), "name": template_names.get(t), "messages": n} for n, t in used],
        "medianSecondsToSent": None if medians[0] is None else round(medians[0], 3),
        "medianSecondsToDelivered": None if medians[1] is None else round(medians[1], 3),
        "failuresByType": dict(sorted(failures.items(), key=lambda item: (-item[1], item[0]))),
    }
