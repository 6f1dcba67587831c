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
