"""Each session's pacing caps (the `sessions` row, else the SEND_* settings) are the ones its
worker's pacer enforces, and a change reaches a running pacer without a restart."""
from dataclasses import replace

import pytest

from core.redis import Keys
from core.settings import get_settings
from models import WaSession
from services.sessions import PacingCaps, pacing_for
from worker.pacer import Pacer, PacingDeferred, SessionCaps


@pytest.fixture
def paced(committed_db, redis_client):
    """Settings for a session of its own with a daily cap of 1, and its row; pacing keys cleared."""
    settings = replace(get_settings(), session_name=f"{get_settings().session_name}-pace")

    def clear():
        for key in redis_client.scan_iter(f"{Keys.pacing(settings.session_name)}*"):
            redis_client.delete(key)

    clear()
    row = WaSession(name=settings.session_name, send_max_per_day=1, send_min_interval_ms=0, send_jitter_ms=0)
    committed_db.add(row)
    committed_db.commit()
    yield settings, row
    clear()


def test_the_caps_in_force_are_the_overrides_else_the_settings(paced, committed_db):
    settings, _row = paced
    assert pacing_for(committed_db, settings.session_name, settings) == PacingCaps(
        min_interval_ms=0, jitter_ms=0, max_per_second=settings.send_max_per_second,
        max_per_hour=settings.send_max_per_hour, max_per_day=1)
    assert pacing_for(committed_db, "no-such-session", settings) == PacingCaps(
        settings.send_min_interval_ms, settings.send_jitter_ms, settings.send_max_per_second,
        settings.send_max_per_hour, settings.send_max_per_day)


def test_the_pacer_enforces_the_sessions_own_caps_and_follows_a_change(paced, committed_db, redis_client):
    settings, row = paced
    pacer = Pacer(redis_client, settings)  # as the worker builds it: the caps of its session's row
    assert pacer.delay() == 0
    pacer.record_send()
    with pytest.raises(PacingDeferred, match="daily cap"):
        pacer.delay()

    row.send_max_per_day = None  # back to the default (SEND_MAX_PER_DAY=0: no daily cap)
    committed_db.commit()
    caps = SessionCaps(settings.session_name, settings, refresh_seconds=0)
    fresh = Pacer(redis_client, settings, limits=caps)
    assert fresh.delay() == 0  # the same send counted, the cap gone
