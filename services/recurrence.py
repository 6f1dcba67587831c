"""When a cron schedule runs next, in its own time zone, across daylight-saving changes.

The cron expression describes local wall-clock times in the schedule's zone (5 fields, no seconds).
The rule for the two days a year the wall clock jumps:

* spring forward (a time that does not exist, e.g. 02:30 in Europe/Rome on the last Sunday of March):
  the run happens once, shifted forward by the gap (02:30 CET does not exist -> 03:30 CEST);
* fall back (a time that happens twice, e.g. 02:00-02:59 on the last Sunday of October): the run
  happens once, at the first occurrence (CEST); an hourly cron therefore has no run in the repeated
  hour, exactly as a person reading the clock would expect ("once at 02:00"). Every day has one run
  per matching wall-clock time, never zero and never two.
"""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter


def valid_cron(expression: str) -> bool:
    return len(expression.split()) == 5 and croniter.is_valid(expression)


def valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def next_run(expression: str, zone_name: str, after: datetime) -> datetime:
    """The first run strictly after `after` (an aware datetime), in UTC."""
    zone = ZoneInfo(zone_name)
    local_after = after.astimezone(zone).replace(tzinfo=None)
    wall_clock = croniter(expression, local_after)
    while True:
        wall = wall_clock.get_next(datetime)
        # fold=0: a repeated time is its first occurrence, a missing time keeps the offset in
        # force before the jump (so it lands after the gap by the gap's length)
        at = wall.replace(tzinfo=zone, fold=0).astimezone(timezone.utc)
        if at > after:
            return at


def runs_between(expression: str, zone_name: str, start: datetime, end: datetime) -> list[datetime]:
    """Every run in (start, end], in UTC (for tests and previews)."""
    runs, at = [], start
    while (at := next_run(expression, zone_name, at)) <= end:
        runs.append(at)
    return runs
