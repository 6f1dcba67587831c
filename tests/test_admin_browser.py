"""The admin panel in a real headless Chromium, served by gunicorn, with a real worker driving the
simulator: log in, see the QR, the page turns CONNECTED by itself when the phone scans; the
commands ask for confirmation; a PROFESSIONAL sees no controls; a form without its CSRF token is refused.
The live parts change through the event stream: each test checks the page's transport is the
stream and that the change it waited for was made by an event of it (not by polling)."""
import pytest

from core.redis import get_redis
from core.settings import get_settings
from models.enums import Role
from tests.fixtures.web import PASSWORD
from tests.fixtures.worker import forget_session, launch_linked_worker, launch_worker, stop_workers
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SESSION = get_settings().session_name


@pytest.fixture
def worker(panel_server, simulator, tmp_path):
    client = get_redis()
    forget_session(client, SESSION)
    simulator.reset()
    started = [launch_worker(simulator, tmp_path, SESSION, 0, client)]
    yield started[0]
    stop_workers(started, client)


@pytest.fixture
def linked_worker(panel_server, simulator, tmp_path):
    """A worker whose phone is linked, acks coming by themselves: sent, delivered after 2.5 s, read after 8 s
    (DELIVERED lasts longer than a few of the page's polls, even on a loaded machine)."""
    client = get_redis()
    forget_session(client, SESSION)
    simulator.reset()
    simulator.config(autoAck={"serverMs": 50, "deliveredMs": 2500, "readMs": 8000})
    started = [launch_linked_worker(simulator, tmp_path, SESSION, 0, client, SEND_MIN_INTERVAL_MS="200",
                                    SEND_JITTER_MS="0")]
    yield started[0]
    stop_workers(started, client)


def test_the_connection_page_shows_the_qr_and_turns_connected_by_itself_when_the_phone_scans(
        panel_browser, worker, simulator, make_user):
    page = panel_browser.login(make_user(Role.ADMIN).email, PASSWORD)
    assert page.driver.current_url.endswith("/admin/connection")
    page.driver.execute_script("window.__sameDocument = true")  # gone if the page reloads
    wait_until(lambda: page.text("#state") == "QR_REQUIRED" and page.count("#qr img"), 60, "the QR on the page")
    wait_until(lambda: page.driver.execute_script(
        "const img = document.querySelector('#qr img'); return img && img.complete && img.naturalWidth > 0"),
        10, "the QR image loaded")

    simulator.scan()
    wait_until(lambda: page.text("#state") == "CONNECTED", 60, "the page to show CONNECTED")
    assert page.driver.execute_script("return window.__sameDocument === true"), "the page reloaded"
    assert page.transport() == "stream" and page.live_cause("#connection-state").startswith("session.")
    assert not page.count("#qr") and page.text("#phone") not in ("", "—")
    assert "attivo" in page.text("#worker")

    # a command asks first; dismissed, nothing happens; accepted, the session stops
    page.find("#command-disconnect").click()
    page.driver.switch_to.alert.dismiss()
    assert page.driver.execute_script("return window.__sameDocument === true")
    page.find("#command-disconnect").click()
    page.driver.switch_to.alert.accept()
    wait_until(lambda: "disconnect: CONNECTED → STOPPED" in page.text(".flash"), 15, "the command's confirmation")
    wait_until(lambda: page.text("#state") == "STOPPED", 60, "the page to show STOPPED")


def test_without_the_event_stream_the_page_falls_back_to_polling(panel_browser, worker, simulator, make_user):
    """A proxy that does not route /api/events (blocked here in the browser): the page polls its fragments."""
    page = panel_browser.login(make_user(Role.ADMIN).email, PASSWORD)
    page.driver.execute_cdp_cmd("Network.enable", {})
    page.driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/api/events?*"]})
    page.open("/admin/connection")
    wait_until(lambda: page.transport() == "polling", 15, "the page to fall back to polling")
    wait_until(lambda: page.text("#state") == "QR_REQUIRED" and page.count("#qr img"), 60, "the QR on the page")
    simulator.scan()
    wait_until(lambda: page.text("#state") == "CONNECTED", 60, "the page to show CONNECTED")
    assert page.live_cause("#connection-state") == "poll"


def test_a_professional_sees_the_state_but_no_controls_nor_the_qr_by_url(panel_browser, make_user):
    page = panel_browser.login(make_user(Role.PROFESSIONAL).email, PASSWORD)
    assert page.text("#state") and not page.count("#controls") and not page.count("#command-initialize")
    page.open("/admin/connection/qr.png")
    assert "Errore 403" in page.text("h1")


def test_the_session_cookie_is_httponly_and_a_form_without_its_csrf_token_is_refused(panel_browser, make_user):
    page = panel_browser.login(make_user(Role.ADMIN).email, PASSWORD)
    cookie = page.driver.get_cookie("wagateway_admin")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax" and cookie["path"] == "/admin"
    assert page.driver.execute_script("return document.cookie") == ""  # scripts cannot read it
    page.driver.execute_script("document.querySelectorAll('input[name=csrf_token]').forEach(i => i.remove())")
    page.find("#command-initialize").click()
    page.driver.switch_to.alert.accept()
    wait_until(lambda: "Errore 400" in page.text("h1"), 15, "the refusal page")
    assert "CSRF" in page.text("main")


def test_a_sent_message_ticks_to_read_and_an_answer_appears_without_a_reload(panel_browser, linked_worker, simulator,
                                                                            make_user):
    page = panel_browser.login(make_user(Role.PROFESSIONAL).email, PASSWORD).open("/admin/send")
    page.find("#phoneNumber").send_keys("333 000 4242")
    wait_until(lambda: "✓ +393330004242" in page.text("#phoneNumber-check"), 10, "the number checked as typed")
    page.find("#message").send_keys("Buongiorno dal pannello")
    page.find("#send-text button[type=submit]").click()
    wait_until(lambda: page.driver.current_url.split("?")[0].endswith("/admin/messages/393330004242"), 10,
               "the conversation page")
    page.driver.execute_script("window.__sameDocument = true")

    seen = []

    def status():
        statuses = page.attributes(".bubble.outgoing", "data-status")
        value = statuses[-1] if statuses else None
        if value and (not seen or seen[-1] != value):
            seen.append(value)
        return value == "READ"

    wait_until(status, 60, "the message's tick to turn READ")
    assert "DELIVERED" in seen and seen[-1] == "READ" and page.count(".bubble.outgoing .tick-READ")
    assert page.transport() == "stream" and page.live_cause("#chat").startswith("message.")
    assert "Buongiorno dal pannello" in [m["body"] for m in simulator.messages()]

    simulator.incoming("393330004242", "Grazie, a presto", pushname="Anna")
    wait_until(lambda: any("Grazie, a presto" in text for text in page.texts(".bubble.incoming")), 30,
               "the answer in the chat")
    assert page.driver.execute_script("return window.__sameDocument === true"), "the page reloaded"
    assert page.live_cause("#chat").startswith("message.received#")


def test_a_bulk_from_a_csv_shows_its_invalid_numbers_then_its_progress_bar_runs_to_the_end(
        panel_browser, linked_worker, simulator, make_user, tmp_path):
    numbers = [f"33300050{n:02d}" for n in range(5)]
    upload = tmp_path / "numeri.csv"
    upload.write_text("numero,nome\n" + "".join(f"{n},Cliente {i}\n" for i, n in enumerate(numbers)) + "12,Errato\n")
    page = panel_browser.login(make_user(Role.ADMIN).email, PASSWORD).open("/admin/bulk")
    page.find("#csv").send_keys(str(upload))
    page.find("#bulk-message").send_keys("Promemoria: domani il negozio è chiuso")
    page.find("#check-button").click()
    wait_until(lambda: page.text("#valid-count") == "5" and page.text("#invalid-count") == "2", 15,
               "the check's figures")
    assert "12:" in page.text("#invalid") and "numero:" in page.text("#invalid")

    page.find("#bulk-send-button").click()
    page.driver.switch_to.alert.accept()
    wait_until(lambda: "/admin/jobs/" in page.driver.current_url, 15, "the job's page")
    page.driver.execute_script("window.__sameDocument = true")
    wait_until(lambda: page.text("#job-status") == "DONE", 90, "the job to finish on the page")
    bar = page.driver.execute_script("const b = document.querySelector('#job-bar'); return [b.value, b.max]")
    assert bar == [5, 5] and "5 di 5 (100 %)" in page.text("#job-counts")
    assert page.transport() == "stream" and page.live_cause("#job").startswith("job.")
    assert page.driver.execute_script("return window.__sameDocument === true"), "the page reloaded"
    arrived = {m["chatId"] for m in simulator.messages() if "negozio è chiuso" in (m.get("body") or "")}
    assert arrived == {f"39{n}@c.us" for n in numbers}
