"""Quiet hours of a session: a daily window (e.g. 21:00-08:00 in the session's time zone) during which
its bulk and campaign messages wait; single interactive sends are not held unless the session says
so (`quietHoursHoldSingles`). Enforced by the courier before it paces a message (worker/delivery.py),
read with the session's caps (every 10 s)."""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_WINDOW = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)")


def parse(text: str) -> tuple[time, time]:
    """"21:00-08:00" -> (start, end); ValueError otherwise (an empty window too)."""
    match = _WINDOW.fullmatch(text or "")
    if not match:
        raise ValueError("quiet hours are HH:MM-HH:MM, e.g. 21:00-08:00")
    start, end = time(int(match[1]), int(match[2])), time(int(match[3]), int(match[4]))
    if start == end:
        raise ValueError("quiet hours must start and end at different times")
    return start, end


def check_zone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("an IANA time zone, e.g. Europe/Rome") from None


def seconds_left(window: str | None, zone: str, moment: datetime) -> float:
    """Seconds until the quiet window around `moment` (aware) ends; 0 outside it or without one."""
    if not window:
        return 0.0
    start, end = parse(window)
    local = moment.astimezone(ZoneInfo(zone))
    clock = local.time()
    inside = start <= clock < end if start < end else (clock >= start or clock < end)
    if not inside:
        return 0.0
    ends = datetime.combine(local.date(), end, tzinfo=local.tzinfo)
    if ends <= local:  # a window across midnight, seen before midnight: it ends tomorrow
        ends += timedelta(days=1)
    return (ends - local).total_seconds()


def next_start(window: str, zone: str, moment: datetime) -> datetime:
    """When the quiet window next begins after `moment` (aware; outside the window), in UTC."""
    start, _ = parse(window)
    local = moment.astimezone(ZoneInfo(zone))
    begins = datetime.combine(local.date(), start, tzinfo=local.tzinfo)
    if begins <= local:
        begins = datetime.combine(local.date() + timedelta(days=1), start, tzinfo=local.tzinfo)
    return begins.astimezone(timezone.utc)
