"""The README's screenshots of the panel's main pages (docs/panel/*.png), taken on the simulator.
Not part of `make test` (the name is not test_*); run it by path when a page changes:

    .venv/bin/pytest tests/panel_screenshots.py
"""
import io
import json
import urllib.request
from pathlib import Path

import pytest
from PIL import Image
from selenium.webdriver.support.ui import Select
from sqlalchemy import text

from core.db import db
from models.enums import Role
from services import templates
from tasks.health import check_session
from tests.fixtures.web import PASSWORD
from tests.test_admin_browser import worker  # noqa: F401 - the fixture
from tests.waiting import wait_until

OUT = Path(__file__).resolve().parents[1] / "docs" / "panel"
pytestmark = [pytest.mark.browser]


def shot(page, name):
    """A small PNG: three quarters of the window, 64 colours."""
    png = page.driver.get_screenshot_as_png()
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.LANCZOS)
    image.quantize(colors=64).save(OUT / f"{name}.png", optimize=True)


def shot_preview(page, name):
    """Ask for the template's preview on this page and save it with the preview in view."""
    page.find("#preview-button").click()
    wait_until(lambda: page.count("#preview"), 10, "preview")
    page.driver.execute_script("document.querySelector('#preview').scrollIntoView()")
    shot(page, name)


def test_screenshots_of_the_main_pages(panel_browser, worker, simulator, make_user):
    page = panel_browser
    page.driver.set_window_size(1000, 820)
    page.login(make_user(Role.SUPER_ADMIN, email="anna.admin@example.com").email, PASSWORD)
    wait_until(lambda: page.count("#qr img") and page.driver.execute_script(
        "const i = document.querySelector('#qr img'); return i && i.complete && i.naturalWidth > 0"), 60, "QR")
    shot(page, "connection-qr")
    simulator.config(autoAck={"serverMs": 50, "deliveredMs": 800, "readMs": 1600})
    simulator.scan()
    wait_until(lambda: page.text("#state") == "CONNECTED", 60, "connected")
    shot(page, "connection")
    templates.create(db, by=None, name="promemoria", category="notification",
                     content="Ciao {{nome}}, ti aspettiamo il {{giorno}} alle {{ora}}.")
    db.commit()
    page.open("/admin/send")
    page.find("#phoneNumber").send_keys("333 123 4567")
    page.find("#message").send_keys("Buongiorno, la pratica è pronta.")
    page.find("#send-text button[type=submit]").click()
    wait_until(lambda: page.count(".bubble.outgoing .tick-READ"), 60, "read")
    simulator.incoming("393331234567", "Grazie mille, passo domani!", pushname="Mario Rossi")
    wait_until(lambda: page.count(".bubble.incoming"), 30, "incoming")
    page.find("#message").send_keys("Perfetto, a domani.")
    page.find("form.card button[type=submit]").click()
    wait_until(lambda: page.count(".bubble.outgoing .tick-READ") == 2, 60, "read 2")
    shot(page, "conversation")
    simulator.incoming("393339876543", "Salve, vorrei un appuntamento", pushname="Giulia")
    wait_until(lambda: db.execute(text("SELECT count(*) FROM messages WHERE direction = 'incoming'")).scalar() == 2,
               30, "the second incoming message")
    page.open("/admin/messages")
    shot(page, "messages")
    page.open("/admin/send")
    Select(page.find("#template-pick")).select_by_visible_text("promemoria")
    wait_until(lambda: page.count("#var-nome"), 10, "template form")
    page.find("#tpl-phoneNumber").send_keys("333 987 6543")
    page.find("#var-nome").send_keys("Giulia")
    page.find("#var-giorno").send_keys("martedì 2")
    page.find("#var-ora").send_keys("10:30")
    shot_preview(page, "send")
    for _ in range(3):  # beat's health check watching the connected session: its uptime
        check_session()
    bearer = _api(page.base_url, "/api/auth/login", {"email": "anna.admin@example.com", "password": PASSWORD})
    for _ in range(20):  # API answers, timed into /metrics' histogram: the latency KPI
        _api(page.base_url, "/api/whatsapp/stats", token=bearer["data"]["accessToken"])
    page.open("/admin/monitoring")
    shot(page, "monitoring")


def _api(base_url: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
    request = urllib.request.Request(base_url + path, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def test_screenshots_of_the_admin_pages(panel_browser, make_user):
    """Users, an API token just issued, the audit log; the users page on a phone too."""
    page = panel_browser
    page.driver.set_window_size(1000, 820)
    page.login(make_user(Role.SUPER_ADMIN, email="anna.admin@example.com").email, PASSWORD)
    page.open("/admin/users")
    for email, role in (("marco.operatore@example.com", "PROFESSIONAL"), ("laura.admin@example.com", "ADMIN")):
        page.find("#new-email").send_keys(email)
        page.find("#new-password").send_keys("una password lunga")
        Select(page.find("#new-role")).select_by_visible_text(role)
        page.find("#create-user button[type=submit]").click()
        wait_until(lambda: page.count(f'tr[data-email="{email}"]'), 30, "the new user")
    shot(page, "users")
    page.open("/admin/tokens")
    page.find("#token-name").send_keys("crm-studio")
    Select(page.find("#token-role")).select_by_visible_text("PROFESSIONAL")
    page.find("#issue-token button[type=submit]").click()
    wait_until(lambda: page.count("#issued-token"), 30, "the issued token")
    shot(page, "tokens")
    page.open("/admin/audit")
    shot(page, "audit")
    page.driver.set_window_size(390, 820)
    page.open("/admin/users")
    shot(page, "users-phone")


def test_screenshots_of_the_content_pages(panel_browser, make_user):
    """Templates, contacts and scheduled: seeded rows, no worker needed (`-k content` takes only these)."""
    from datetime import timedelta

    from services import contacts, scheduling
    from services.messages import now

    page = panel_browser
    page.driver.set_window_size(1000, 820)
    page.login(make_user(Role.SUPER_ADMIN, email="anna.admin@example.com").email, PASSWORD)
    reminder = templates.create(db, by=None, name="promemoria", category="notification",
                                content="Ciao {{nome}}, ti aspettiamo il {{giorno}} alle {{ora}}.",
                                variables=[{"key": "ora", "description": "l'orario", "required": False, "default": "9:00"}],
                                tags=["appuntamenti"])
    templates.create(db, by=None, name="benvenuto", category="greeting", content="Benvenuto {{nome}}!")
    templates.create(db, by=None, name="ordine pronto", category="support",
                     content="Il tuo ordine {{ordine}} è pronto per il ritiro.")
    for number, name, pushname, favourite in [("393331234567", "Mario Rossi", "Mario", True),
                                              ("393339876543", None, "Giulia", False),
                                              ("393471112233", "Studio Bianchi", None, False)]:
        contacts.upsert(db, number, name=name, pushname=pushname, is_favorite=favourite, has_whatsapp=True,
                        last_message_at=now() - timedelta(hours=len(number) % 5))
    weekly = scheduling.create(db, session_name=page_session(), user_id=None, recipients=["393331234567"],
                               body="Ricordati la riunione del lunedì alle 9.", template_id=None, variables={},
                               media_id=None, send_at=None, cron="0 8 * * 1", timezone="Europe/Rome", end_at=None,
                               max_runs=10)
    scheduling.create(db, session_name=page_session(), user_id=None, recipients=["393339876543"],
                      body=None, template_id=reminder.id, variables={"nome": "Giulia", "giorno": "martedì 2"},
                      media_id=None, send_at=now() + timedelta(days=1), cron=None, timezone="Europe/Rome",
                      end_at=None, max_runs=None)
    db.commit()
    scheduling.dispatch_due(db, grace_seconds=300, country="IT", at=weekly.next_run_at + timedelta(seconds=3))
    db.commit()

    page.open("/admin/templates")
    shot(page, "templates")
    page.open(f"/admin/templates/{reminder.id}")
    page.find("#var-nome").send_keys("Giulia")
    page.find("#var-giorno").send_keys("martedì 2")
    shot_preview(page, "template")
    page.open("/admin/contacts")
    shot(page, "contacts")
    page.open(f"/admin/scheduled/{weekly.id}")
    wait_until(lambda: page.count("#upcoming li"), 10, "next runs")
    page.driver.execute_script("document.querySelector('#runs').scrollIntoView()")
    shot(page, "schedule")


def page_session() -> str:
    from core.settings import get_settings

    return get_settings().session_name
