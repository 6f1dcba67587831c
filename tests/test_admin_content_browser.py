"""The panel's templates, contacts and scheduled pages in a real headless Chromium (gunicorn, a
real worker on the simulator where a page needs one): a template created, previewed and sent,
reaching the phone; the phone's contacts synced and starred; schedules made, cancelled, and a
run appearing on the page by itself through the event stream."""
from datetime import timedelta

import pytest
from selenium.webdriver.common.keys import Keys
from sqlalchemy import delete, select

from models import Contact, ScheduledMessage
from models.enums import Role
from services import scheduling
from services.messages import now
from tests.fixtures.web import PASSWORD
from tests.test_admin_browser import SESSION, linked_worker  # noqa: F401 - a fixture
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_template_create_and_send(panel_browser, linked_worker, simulator, make_user):  # noqa: F811
    page = panel_browser.login(make_user(Role.ADMIN).email, PASSWORD).open("/admin/templates")
    page.find("#new-template").click()
    wait_until(lambda: page.count("#template-form"), 10, "the new template form")
    # by keyboard: typed, the checkbox toggled with the space bar, the form submitted with Enter
    page.find("#content").send_keys("Ciao {{nome}}, il tuo ordine {{ordine}} è pronto")
    page.find("#variables-0-key").send_keys("ordine")
    page.find("#variables-0-description").send_keys("il numero d'ordine")
    page.find("#tags").send_keys("ordini")
    page.find("#isActive").send_keys(Keys.SPACE)
    page.find("#isActive").send_keys(Keys.SPACE)  # off and on again: active
    page.find("#name").send_keys("Ordine pronto", Keys.ENTER)
    wait_until(lambda: "Modello «Ordine pronto» creato" in page.text(".flash"), 15, "the template created")
    assert [v for v in page.attributes("#variables input[id$=-key]", "value") if v] == ["ordine", "nome"]

    page.find("#var-nome").send_keys("Anna")
    page.find("#var-ordine").send_keys("A-17")
    page.find("#preview-button").click()
    wait_until(lambda: page.count("#preview"), 10, "the preview")
    assert page.text("#preview") == "Ciao Anna, il tuo ordine A-17 è pronto"

    page.find("#use-template").click()
    wait_until(lambda: page.count("#send-template"), 10, "the send page with the template")
    page.find("#tpl-phoneNumber").send_keys("333 000 5151")
    page.find("#var-nome").send_keys("Bruno")
    page.find("#var-ordine").send_keys("B-42")
    page.find("#preview-button").click()
    wait_until(lambda: page.text("#preview") == "Ciao Bruno, il tuo ordine B-42 è pronto", 10, "the send page's preview")
    page.find("#send-template-button").click()
    wait_until(lambda: page.driver.current_url.split("?")[0].endswith("/admin/messages/393330005151"), 10,
               "the conversation")
    wait_until(lambda: "Ciao Bruno, il tuo ordine B-42 è pronto" in [m["body"] for m in simulator.messages()], 60,
               "the message on the phone")
    wait_until(lambda: (page.attributes(".bubble.outgoing", "data-status") or [None])[-1] in ("SENT", "DELIVERED", "READ"),
               30, "the tick of the sent message")
    assert page.transport() == "stream" and page.live_cause("#chat").startswith("message.")


def test_contacts_sync_from_the_phone_then_a_favourite(panel_browser, linked_worker, simulator, make_user,  # noqa: F811
                                                       committed_db):
    simulator.incoming("393339990021", "ciao", pushname="Rubrica Uno")
    wait_until(lambda: committed_db.scalar(select(Contact).where(Contact.phone_number == "393339990021")), 30,
               "the sender's contact")
    committed_db.execute(delete(Contact).where(Contact.phone_number == "393339990021"))
    committed_db.commit()

    page = panel_browser.login(make_user(Role.ADMIN).email, PASSWORD).open("/admin/contacts")
    assert not page.count("#contact-393339990021")
    page.find("#sync-button").click()
    page.driver.switch_to.alert.accept()
    wait_until(lambda: page.attributes("#sync-status", "data-status") == ["SUCCESS"], 60, "the sync to finish")
    assert "contatti dal telefono" in page.text("#sync")
    page.find("#sync-reload").click()
    wait_until(lambda: page.count("#contact-393339990021"), 10, "the synced contact listed")
    assert "Rubrica Uno" in page.text("#contact-393339990021")

    page.find("#contact-393339990021 button.star").click()
    wait_until(lambda: page.attributes("#contact-393339990021 button.star", "aria-pressed") == ["true"], 10,
               "the star on")
    page.find("#favorite-only").click()
    page.find("#q").send_keys("rubrica", Keys.ENTER)
    wait_until(lambda: "favorite=true" in page.driver.current_url, 10, "the favourites")
    assert page.count("#contacts tbody tr[id]") == 1 and page.count("#contact-393339990021")


def test_schedules_one_off_and_cron_cancel_and_a_run_appearing_live(panel_browser, make_user, committed_db):
    page = panel_browser.login(make_user(Role.ADMIN).email, PASSWORD).open("/admin/scheduled")
    page.find("#recipients").send_keys("333 100 7001")
    page.find("#kind-cron").click()
    page.find("#cron").send_keys("30 8 * * *")
    page.find("#schedule-message").send_keys("Buongiorno")
    page.find("#schedule-button").click()
    wait_until(lambda: page.count("#upcoming li") == 5, 10, "the next five runs")
    assert all(day.endswith("08:30") for day in page.texts("#upcoming li"))
    page.find("#cancel-schedule").click()
    page.driver.switch_to.alert.accept()
    wait_until(lambda: page.text("#schedule-status") == "CANCELLED", 10, "the schedule cancelled")
    assert not page.count("#upcoming li") and not page.count("#cancel-schedule")

    page.open("/admin/scheduled")
    page.find("#recipients").send_keys("333 100 7002")
    page.find("#schedule-message").send_keys("Una volta sola")
    # a datetime-local field is typed as its parts, in the browser's locale order: set it as a user's picker does
    when = (now() + timedelta(days=1)).replace(second=0, microsecond=0)
    from zoneinfo import ZoneInfo
    local = when.astimezone(ZoneInfo("Europe/Rome")).strftime("%Y-%m-%dT%H:%M")
    page.driver.execute_script("document.getElementById('sendAt').value = arguments[0]", local)
    page.find("#schedule-button").click()
    wait_until(lambda: page.count("#upcoming li") == 1, 10, "the one-off's run")
    page.driver.execute_script("window.__sameDocument = true")
    assert "Nessun invio ancora" in page.text("#past-runs")
    wait_until(lambda: page.transport() == "stream", 15, "the page on the event stream")

    # beat's dispatch at the run's time (here, from the test): the page shows the run by itself
    schedule = committed_db.scalar(select(ScheduledMessage).where(ScheduledMessage.recipients.contains(["393331007002"])))
    scheduling.dispatch_due(committed_db, grace_seconds=300, country="IT", at=when + timedelta(seconds=5))
    committed_db.commit()
    wait_until(lambda: page.text("#schedule-status") == "DONE", 30, "the run on the page")
    assert "SENT" in page.text("#past-runs") and "+393331007002" in page.text("#past-runs")
    assert page.live_cause("#runs").startswith("schedule.run#")
    assert page.driver.execute_script("return window.__sameDocument === true"), "the page reloaded"


def test_a_page_open_longer_than_its_stream_token_gets_a_new_one_and_misses_no_run(panel_browser, make_user,
                                                                                  committed_db):
    """The tests' streams end after 1 s (EVENTS_STREAM_SECONDS): the browser reconnects with its URL
    until the token in it expires (60 s), then the page asks a new token and resumes after the last
    event it saw."""
    from web.auth import STREAM_TOKEN_SECONDS

    when = (now() + timedelta(days=1)).replace(second=0, microsecond=0)
    schedule = scheduling.create(committed_db, session_name=SESSION, user_id=None, recipients=["393331007003"],
                                 body="Dopo il gettone", template_id=None, variables={}, media_id=None, send_at=when,
                                 cron=None, timezone="Europe/Rome", end_at=None, max_runs=None)
    committed_db.commit()
    page = panel_browser.login(make_user(Role.ADMIN).email, PASSWORD).open(f"/admin/scheduled/{schedule.id}")
    wait_until(lambda: page.transport() == "stream", 15, "the page on the event stream")
    wait_until(lambda: page.driver.execute_script("return document.documentElement.dataset.liveStreams") == "2",
               STREAM_TOKEN_SECONDS + 30, "a second stream, with a new token")
    scheduling.dispatch_due(committed_db, grace_seconds=300, country="IT", at=when + timedelta(seconds=5))
    committed_db.commit()
    wait_until(lambda: page.text("#schedule-status") == "DONE", 30, "the run on the page")
    assert page.transport() == "stream" and page.live_cause("#runs").startswith("schedule.run#")
