"""Campaign guard rails: before a bulk is accepted, when will it finish under the session's caps,
and does it fit in today's daily cap?

The estimate follows the pacer's rules (worker/pacer.py): sends at least SEND_MIN_INTERVAL_MS plus on
average half the jitter apart, at most SEND_MAX_PER_SECOND a second, and the hourly and daily caps
counted per UTC hour and day (the pacer's own counters in Redis say how much of them is used). The
messages already waiting for the session go first. It ignores the browser's own time per send, so
it is the earliest finish, not a promise.

Above the daily cap a bulk is refused (422) unless the caller asks to spread it: then the pacer
holds what is over each day's cap until the next day, as it always does.

New numbers: a bulk mostly to people the session never wrote to and never heard from is what gets
accounts reported and banned. Above BULK_NEW_NUMBERS_WARN_PERCENT of them the answer carries a
warning (the bulk is accepted all the same: the caller decides).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import String, any_, bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from core.errors import GatewayError
from core.redis import Keys, get_redis
from core.settings import Settings
from models import Message
from models.enums import Direction, MessageStatus
from services import quiet_hours, runtime_settings, sessions, stats
from services.sessions import PacingCaps

MAX_DAYS = 366  # a plan longer than this is not a plan


@dataclass(frozen=True)
class Plan:
    count: int
    ahead: int  # messages of the session already waiting
    sent_today: int
    finish_at: datetime
    days: int  # UTC days the sends span (1: all on the first day)
    daily_cap: int
    starts_at: datetime

    @property
    def over_daily_cap(self) -> bool:
        return bool(self.daily_cap) and self.sent_today + self.ahead + self.count > self.daily_cap

    def as_dict(self, spread: bool) -> dict:
        return {"messages": self.count, "queuedAhead": self.ahead, "sentToday": self.sent_today,
                "dailyCap": self.daily_cap or None, "estimatedFinishAt": self.finish_at, "days": self.days,
                "spread": spread, "startsAt": self.starts_at}


@dataclass(frozen=True)
class NewNumbers:
    """Of a bulk's `recipients`, `new` were never messaged by the session and never wrote to it."""

    new: int
    recipients: int
    threshold_percent: int

    @property
    def share_percent(self) -> float:
        return round(100 * self.new / self.recipients, 1)

    def as_dict(self) -> dict:
        return {"code": "NEW_NUMBERS", "newNumbers": self.new, "recipients": self.recipients,
                "sharePercent": self.share_percent, "thresholdPercent": self.threshold_percent}


def new_numbers(session: Session, session_name: str, numbers: list[str],
                settings: Settings) -> NewNumbers | None:
    """The share of `numbers` (E.164 digits) new to the session, when it is above the threshold in
    force (BULK_NEW_NUMBERS_WARN_PERCENT, runtime settings included); else None."""
    threshold = runtime_settings.effective(session, settings).bulk_new_numbers_warn_percent
    if not numbers or threshold >= 100:
        return None
    wanted = bindparam("numbers", list(numbers), type_=ARRAY(String))
    known = session.scalar(select(func.count(func.distinct(Message.phone_number))).where(
        Message.session == session_name, Message.phone_number == any_(wanted),
        # they know each other: a message from them, or one of ours that went
        or_(Message.direction == Direction.INCOMING.value, Message.status.in_(stats.DONE)))) or 0
    found = NewNumbers(len(numbers) - known, len(numbers), threshold)
    return found if 100 * found.new > threshold * found.recipients else None


def finish_time(total: int, caps: PacingCaps, start: datetime, used_hour: int, used_day: int,
                quiet: tuple[str, str] | None = None) -> tuple[datetime, int]:
    """When `total` sends end if they start at `start` (UTC) under `caps`, hour by hour, waiting out
    the session's quiet hours (`quiet`: its window and zone), as its bulk messages do. -> (time, days)."""
    interval = (caps.min_interval_ms + caps.jitter_ms / 2) / 1000
    rate = min(float(caps.max_per_second), 1 / interval if interval > 0 else math.inf)
    now, remaining, first_day = start, total, start.date()

    def advance(to: datetime) -> None:
        nonlocal now, used_hour, used_day
        if to.replace(minute=0, second=0, microsecond=0) != now.replace(minute=0, second=0, microsecond=0):
            used_hour = 0
        if to.date() != now.date():
            used_day = 0
        now = to

    while remaining > 0:
        if (now.date() - first_day).days > MAX_DAYS:
            raise GatewayError(422, f"this would take more than {MAX_DAYS} days under the session's caps",
                               details={"json": {"recipients": ["too many for the session's caps"]}})
        if quiet and (wait := quiet_hours.seconds_left(quiet[0], quiet[1], now)):
            advance(now + timedelta(seconds=wait))
            continue
        step_end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        if quiet:
            step_end = min(step_end, quiet_hours.next_start(quiet[0], quiet[1], now))
        room = [rate * (step_end - now).total_seconds()]
        if caps.max_per_hour:
            room.append(max(0, caps.max_per_hour - used_hour))
        if caps.max_per_day:
            room.append(max(0, caps.max_per_day - used_day))
        fits = min(room)
        if remaining <= fits:
            now += timedelta(seconds=remaining / rate)
            break
        remaining -= int(fits)
        used_hour += int(fits)
        used_day += int(fits)
        advance(step_end)
    return now, (now.date() - first_day).days + 1


def plan(session: Session, session_name: str, count: int, settings: Settings, job_id=None,
         start: datetime | None = None) -> Plan:
    """The plan of `count` more messages (those of job `job_id`, already inserted, are not "ahead")
    from `start` (a campaign's run; default now). Today's sends and the session's waiting messages
    count against a start today; a later day starts with its caps unused."""
    row = sessions.by_name(session, session_name)  # its caps and its quiet hours, in one read
    caps = sessions.caps_of(row, runtime_settings.effective(session, settings))
    now = datetime.now(timezone.utc)
    start = max(start or now, now)
    ahead = used_hour = used_day = 0
    if start.date() == now.date():
        waiting = [Message.session == session_name,
                   Message.status.in_([MessageStatus.QUEUED.value, MessageStatus.SENDING.value])]
        if job_id is not None:
            waiting.append(or_(Message.bulk_job_id.is_(None), Message.bulk_job_id != job_id))
        ahead = session.scalar(select(func.count()).select_from(Message).where(*waiting)) or 0
        hour_key, day_key = Keys.pacing_buckets(Keys.pacing(session_name), now)
        used_hour, used_day = (int(v or 0) for v in get_redis().mget(hour_key, day_key))
        if start.hour != now.hour:
            used_hour = 0
    quiet = (row.quiet_hours, row.quiet_timezone or settings.timezone) if row is not None and row.quiet_hours else None
    finish, days = finish_time(ahead + count, caps, start, used_hour, used_day, quiet)
    return Plan(count, ahead, used_day, finish, days, caps.max_per_day, start)


def accept(session: Session, job, settings: Settings, *, spread: bool) -> dict:
    """The plan of a bulk job just queued, or a 422 when it exceeds today's daily cap and the
    caller did not ask to spread it over days (the request's transaction, job included, rolls back)."""
    return _checked(plan(session, job.session, job.total, settings, job.id), f"{job.total} messages", spread)


def accept_campaign(session: Session, session_name: str, count: int, start: datetime, settings: Settings, *,
                    spread: bool) -> dict:
    """The same for a campaign's run at `start` (the next one, for a recurring campaign), checked
    when it is scheduled: its day's cap, and its messages after those already waiting if it runs today."""
    return _checked(plan(session, session_name, count, settings, start=start),
                    f"the run at {start:%Y-%m-%d %H:%M} UTC: {count} messages", spread)


def _checked(found: Plan, what: str, spread: bool) -> dict:
    if found.over_daily_cap and not spread:
        raise GatewayError(
            422, f"{what} exceed the session's daily cap of {found.daily_cap} "
                 f"({found.sent_today} sent that day, {found.ahead} already queued): "
                 f"sent over {found.days} days, they would finish around "
                 f"{found.finish_at:%Y-%m-%d %H:%M} UTC; "
                 "ask for spread: true to accept that",
            details={"estimate": {**found.as_dict(spread), "estimatedFinishAt": found.finish_at.isoformat(),
                                  "startsAt": found.starts_at.isoformat()}})
    return found.as_dict(spread)
