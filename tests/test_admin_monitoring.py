"""The panel's monitoring page: today's and total sends with the success rate against its target,
the per-day series and failures by type from the rollups, the latest errors for who may read them."""
import re

from models import Message
from models.enums import Role
from tests.test_admin_panel import log_in


def _messages(db_session, session):
    rows = [("outgoing", "READ", None)] * 3 + [("outgoing", "FAILED", "NOT_WHATSAPP"), ("incoming", "READ", None)]
    for n, (direction, status, error) in enumerate(rows):
        db_session.add(Message(session=session, direction=direction, status=status, phone_number=f"39333000{n:04d}",
                               chat_id=f"39333000{n:04d}@c.us", body="x", error_type=error,
                               error_message="not on WhatsApp" if error else None))
    db_session.commit()


def _number(page: str, element_id: str) -> str:
    return re.search(rf'id="{element_id}">([^<]*)<', page).group(1)


def test_the_figures_of_today_and_the_failures_in_italian(client, make_user, db_session, app):
    _messages(db_session, app.config["SETTINGS"].session_name)
    log_in(client, make_user(Role.PROFESSIONAL))
    page = client.get("/admin/monitoring").get_data(as_text=True)
    assert _number(page, "kpi-today") == "4" and _number(page, "kpi-total") == "4"
    assert _number(page, "kpi-incoming") == "1"
    assert '<span class="bad">75.0 %</span>' in page  # 3 of 4 reached WhatsApp: under the 98 % target
    assert "NOT_WHATSAPP: 1 — Il numero non usa WhatsApp." in page
    assert page.count("<tr><td>20") == 1  # one day in the series
    assert 'id="latest-errors"' not in page  # /error-stats is for who may MANAGE


def test_an_admin_sees_the_latest_errors_and_windows_are_fixed(client, make_user, db_session, app):
    _messages(db_session, app.config["SETTINGS"].session_name)
    log_in(client, make_user(Role.ADMIN))
    page = client.get("/admin/monitoring?days=30").get_data(as_text=True)
    assert 'id="latest-errors"' in page and "not on WhatsApp" in page
    assert 'days=30" aria-current="page"' in page
    assert 'days=7" aria-current="page"' in client.get("/admin/monitoring?days=abc").get_data(as_text=True)
    assert 'days=7" aria-current="page"' in client.get("/admin/monitoring?days=5").get_data(as_text=True)
    fragment = client.get("/admin/monitoring/figures?days=1", headers={"X-Panel-Fragment": "1"})
    assert fragment.status_code == 200 and 'id="kpi-today"' in fragment.get_data(as_text=True)


def test_the_daily_series_is_detailed_stats_own(db_session, app):
    """The page reads stats.daily (one GROUP BY on the hourly rollup): the same days and failures
    as /detailed-stats computes."""
    from services import stats

    session = app.config["SETTINGS"].session_name
    _messages(db_session, session)
    for days in (1, 7):
        for tz in ("Europe/Rome", "Asia/Kolkata"):  # a whole-hour zone, and one that takes the exact path
            full = stats.detailed(db_session, days, tz, session)
            assert stats.daily(db_session, days, tz, session) == {
                "days": days, "perDay": full["perDay"], "failuresByType": full["failuresByType"]}


def test_session_uptime_is_the_connected_share_of_what_beats_health_check_watched(
        committed_db, committed_client, make_user, redis_client):
    """The real health task on the real PostgreSQL and Redis: each run counts its interval as
    connected or not; the page shows the share against the 95 % target."""
    import time as clock
    import uuid as uuids
    from datetime import datetime, timezone

    from core.settings import get_settings
    from services import sessions
    from tasks.health import check_session
    from tests.fixtures.worker import forget_session

    name = f"up{uuids.uuid4().hex[:8]}"
    sessions.create(committed_db, get_settings(), name=name, by=None)
    committed_db.commit()
    log_in(committed_client, make_user(Role.PROFESSIONAL))
    try:
        assert _number(committed_client.get(f"/admin/monitoring?session={name}").get_data(as_text=True),
                       "kpi-uptime") == "—"  # nothing watched yet
        redis_client.hset(f"wa:{name}:state", mapping={  # as a live worker reports it
            "state": "CONNECTED", "since": datetime.now(timezone.utc).isoformat(), "heartbeat": str(clock.time())})
        for _ in range(3):
            check_session()
        page = committed_client.get(f"/admin/monitoring?session={name}").get_data(as_text=True)
        assert '<p class="big" id="kpi-uptime"><span class="ok">100.0 %</span>' in page
        redis_client.hset(f"wa:{name}:state", "heartbeat", str(clock.time() - 600))  # the worker died
        check_session()
        page = committed_client.get(f"/admin/monitoring?session={name}&days=1").get_data(as_text=True)
        assert '<p class="big" id="kpi-uptime"><span class="bad">75.0 %</span>' in page
        interval = get_settings().health_check_seconds
        assert f"{4 * interval / 3600:.1f} ore osservate oggi" in page
    finally:
        forget_session(redis_client, name)


def test_api_latency_is_read_from_the_metrics_histogram(client, make_user, auth_headers):
    """Every API answer is timed into /metrics' histogram; the page reads its p95 and count."""
    headers = auth_headers(Role.PROFESSIONAL)
    log_in(client, make_user(Role.PROFESSIONAL))
    count = re.compile(r"su (\d+) richieste")
    before = count.search(client.get("/admin/monitoring").get_data(as_text=True))
    for _ in range(5):
        assert client.get("/api/whatsapp/stats", headers=headers).status_code == 200
    page = client.get("/admin/monitoring").get_data(as_text=True)
    after = int(count.search(page).group(1))
    assert after >= (int(before.group(1)) if before else 0) + 5
    assert re.search(r'id="kpi-latency"><span class="(ok|bad)">\d+ ms</span>', page)


def test_the_latency_percentiles_interpolate_inside_the_buckets():
    from core.metrics import _quantile

    cumulative = {0.1: 50.0, 0.5: 100.0, float("inf"): 100.0}
    bounds = sorted(cumulative)
    assert _quantile(0.5, bounds, cumulative) == 100.0
    assert abs(_quantile(0.95, bounds, cumulative) - 460.0) < 1e-9
    tail = {0.1: 1.0, float("inf"): 100.0}
    assert _quantile(0.99, sorted(tail), tail) == 100.0  # beyond the last finite bound: that bound


def test_the_system_card_shows_the_browser_the_queue_the_disk_and_the_open_alerts(
        client, make_user, db_session, app, redis_client):
    """What the worker's heartbeat reports (the browser's memory), the session's queue in Redis, the
    profiles' disk and the alerts table, as they are."""
    import os
    import shutil
    import time as clock

    from models import Alert
    from tests.fixtures.worker import forget_session

    import uuid

    from services import sessions

    settings = app.config["SETTINGS"]
    session = f"sys{uuid.uuid4().hex[:8]}"  # its own queues: other tests leave tasks on the default's
    sessions.create(db_session, settings, name=session, by=None)
    db_session.add(Alert(kind="queue_stale", subject=session, message="a message waits"))
    db_session.flush()
    redis_client.hset(f"wa:{session}:state", mapping={"state": "CONNECTED", "heartbeat": str(clock.time()),
                                                      "browser_mb": "612.4"})
    redis_client.rpush(f"wa.{session}", "a task", "another")
    try:
        log_in(client, make_user(Role.PROFESSIONAL))
        page = client.get(f"/admin/monitoring?session={session}").get_data(as_text=True)
        system = re.search(r'<dl id="system">(.*?)</dl>', page, re.S).group(1)
        values = re.findall(r"<dd>(.*?)</dd>", system)
        assert values[0] == "612 MB" and values[1] == "2" and values[3] == "1"
        free_mb = int(re.search(r"(\d+) MB", values[2]).group(1))
        tokens = settings.tokens_dir
        while not os.path.exists(tokens):  # not created yet in this test: its parent's file system
            tokens = os.path.dirname(tokens)
        assert abs(free_mb - shutil.disk_usage(tokens).free // 2**20) < 64
        english = client.get(f"/admin/monitoring?session={session}",
                             headers={"Accept-Language": "en"}).get_data(as_text=True)
        assert "Browser memory" in english and "Open alerts" in english
    finally:
        forget_session(redis_client, session)
