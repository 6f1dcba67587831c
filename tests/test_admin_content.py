"""The panel's templates, contacts and scheduled pages through Flask's test client: each over the
API's own schemas and services, the role table deciding what a page shows and allows (the walk
over every panel route for every role is tests/test_admin_panel.py), CSRF on every form, labels
on every field. tests/test_admin_content_browser.py drives them in a real browser."""
import html
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


from core.redis import get_redis
from models import AuditLog, Contact, ScheduledMessage, Template
from models.enums import Role
from services import scheduling
from services.dispatch import interactive_queue
from services.messages import now
from tests.test_admin_panel import csrf_of, logged_in  # noqa: F401 - a fixture

ROME = ZoneInfo("Europe/Rome")
ID = re.compile(r"/admin/(?:templates|scheduled)/([0-9a-f-]{36})")


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def unlabelled(page: str) -> list[str]:
    """Form fields (not hidden, not buttons) without a <label for=...> of their id."""
    labelled = set(re.findall(r'<label[^>]* for="([^"]+)"', page))
    wrapped = set(re.findall(r'<label[^>]*>\s*<input\b([^>]*)>', page))  # a label around its field
    fields = [f for f in re.findall(r'<(?:input|select|textarea)\b([^>]*)>', page) if f not in wrapped]
    missing = []
    for attributes in fields:
        if re.search(r'type="(hidden|submit)"', attributes):
            continue
        found = re.search(r'\bid="([^"]+)"', attributes)
        if not found or found.group(1) not in labelled:
            missing.append(attributes.strip()[:60])
    return missing


def template_form(csrf, name="Promemoria", content="Ciao {{nome}}, a domani alle {{ora}}", **extra):
    data = {"csrf_token": csrf, "name": name, "category": "notification", "content": content, "isActive": "on",
            "tags": "promemoria, clienti", "variable_rows": "2",
            "variables-0-key": "ora", "variables-0-description": "l'orario", "variables-0-default": "9:00"}
    return {**data, **extra}


# -- templates -----------------------------------------------------------------------------------
def saved_template(db_session, name: str, category: str) -> Template:
    """A template "Ciao {{nome}}" with its one required variable, in the test's transaction."""
    template = Template(name=name, category=category, content="Ciao {{nome}}", variables=[
        {"key": "nome", "description": None, "required": True, "default": None}], tags=[], usage_count=0)
    db_session.add(template)
    db_session.flush()
    return template


def test_an_admin_creates_edits_previews_clones_and_deletes_a_template(client, logged_in, db_session):
    csrf = logged_in(Role.ADMIN)
    new = client.get("/admin/templates/new")
    assert new.status_code == 200 and unlabelled(text_of(new)) == []
    created = client.post("/admin/templates", data=template_form(csrf))
    assert created.status_code == 302
    template_id = ID.search(created.headers["Location"]).group(1)
    template = db_session.get(Template, template_id)
    assert template.tags == ["promemoria", "clienti"] and template.is_active
    assert {v["key"]: (v["required"], v["default"]) for v in template.variables} == {
        "ora": (False, "9:00"), "nome": (True, None)}  # `nome` declared for it, from the text
    listing = text_of(client.get("/admin/templates?q=promem"))
    assert "Promemoria" in listing and "ora, nome" in listing
    assert "Nessun modello" in text_of(client.get("/admin/templates?q=nulla&category=greeting"))

    page = text_of(client.get(f"/admin/templates/{template_id}"))
    assert 'id="template-form"' in page and 'value="ora"' in page and unlabelled(page) == []
    edited = client.post(f"/admin/templates/{template_id}", data=template_form(
        csrf, content="Buongiorno {{nome}}, ci vediamo alle {{ora}}", isActive="", **{"variables-0-default": "10:00"}))
    assert edited.status_code == 302
    db_session.expire_all()
    template = db_session.get(Template, template_id)
    assert template.content.startswith("Buongiorno") and not template.is_active

    preview = text_of(client.post(f"/admin/templates/{template_id}/preview", data={"csrf_token": csrf, "var_nome": "Anna"}))
    assert "Buongiorno Anna, ci vediamo alle 10:00" in preview  # inactive templates preview too
    missing = text_of(client.post(f"/admin/templates/{template_id}/preview", data={"csrf_token": csrf}))
    assert "Mancano: nome" in missing

    clone = client.post(f"/admin/templates/{template_id}/clone", data={"csrf_token": csrf})
    copy = db_session.get(Template, ID.search(clone.headers["Location"]).group(1))
    assert copy.name == "Promemoria (copy)" and copy.content == template.content
    assert client.post(f"/admin/templates/{copy.id}/delete", data={"csrf_token": csrf}).status_code == 302
    assert db_session.get(Template, copy.id) is None
    actions = [a.action for a in db_session.query(AuditLog).order_by(AuditLog.id)]
    assert ["template.create", "template.update", "template.clone", "template.delete"] == [
        a for a in actions if a.startswith("template.")]


def test_a_refused_template_form_keeps_what_was_typed_and_says_why(client, logged_in):
    csrf = logged_in(Role.ADMIN)
    blank = client.post("/admin/templates", data=template_form(csrf, name="   ", content="Testo scritto"))
    assert blank.status_code == 422
    page = text_of(blank)
    assert "name: must not be blank" in page and "Testo scritto" in page
    client.post("/admin/templates", data=template_form(csrf, name="Doppio"))
    taken = client.post("/admin/templates", data=template_form(csrf, name="doppio"))
    assert taken.status_code == 409 and "exists already" in text_of(taken)
    bad_key = client.post("/admin/templates", data=template_form(csrf, name="Chiave", **{"variables-0-key": "non va"}))
    assert bad_key.status_code == 422 and "letters, digits and _ only" in text_of(bad_key)
    no_csrf = client.post("/admin/templates", data={**template_form(csrf, name="Senza"), "csrf_token": ""})
    assert no_csrf.status_code == 400


def test_a_professional_reads_and_previews_templates_but_changes_none(client, logged_in, db_session):
    template = saved_template(db_session, "Saluto", "greeting")
    csrf = logged_in(Role.PROFESSIONAL)
    listing = text_of(client.get("/admin/templates"))
    assert "Saluto" in listing and "Nuovo modello" not in listing
    page = text_of(client.get(f"/admin/templates/{template.id}"))
    assert 'id="template-form"' not in page and "clone-template" not in page and "delete-template" not in page
    assert 'id="use-template"' in page and 'id="preview-form"' in page
    assert "Ciao Bea" in text_of(client.post(f"/admin/templates/{template.id}/preview",
                                            data={"csrf_token": csrf, "var_nome": "Bea"}))
    for path in ("/admin/templates", f"/admin/templates/{template.id}", f"/admin/templates/{template.id}/clone",
                 f"/admin/templates/{template.id}/delete"):
        assert client.post(path, data=template_form(csrf, name="Mio")).status_code == 403, path
    assert client.get("/admin/templates/new").status_code == 403


# -- contacts ------------------------------------------------------------------------------------

def test_contacts_search_and_favourites(client, logged_in, people, db_session):
    csrf = logged_in(Role.ADMIN)
    page = text_of(client.get("/admin/contacts"))
    assert all(f"+{n}" in page for n in people) and unlabelled(page) == []
    assert "+393331111111" in text_of(client.get("/admin/contacts?q=rossi"))
    found = text_of(client.get("/admin/contacts?q=giul"))
    assert "+393332222222" in found and "+393331111111" not in found
    assert "+442079460958" in text_of(client.get("/admin/contacts?q=4420"))
    starred = text_of(client.get("/admin/contacts?favorite=true"))
    assert "+442079460958" in starred and "+393331111111" not in starred

    back = "/admin/contacts?q=giul"
    answer = client.post(f"/admin/contacts/{people['393332222222']}/favorite",
                         data={"csrf_token": csrf, "favorite": "on", "next": back})
    assert answer.status_code == 302 and answer.headers["Location"] == back
    assert db_session.get(Contact, people["393332222222"]).is_favorite
    assert "+393332222222" in text_of(client.get("/admin/contacts?favorite=true"))
    client.post(f"/admin/contacts/{people['442079460958']}/favorite",
                data={"csrf_token": csrf, "favorite": "off", "next": "https://evil.example/"})
    assert not db_session.get(Contact, people["442079460958"]).is_favorite
    assert db_session.query(AuditLog).filter_by(action="contact.update").count() == 2


def test_a_professional_sees_contacts_but_no_stars_nor_sync(client, logged_in, people):
    csrf = logged_in(Role.PROFESSIONAL)
    page = text_of(client.get("/admin/contacts"))
    assert "+393331111111" in page and "sync-button" not in page and "Aggiungi ai preferiti" not in page
    assert client.post(f"/admin/contacts/{people['393331111111']}/favorite",
                       data={"csrf_token": csrf, "favorite": "on"}).status_code == 403
    assert client.post("/admin/contacts/sync", data={"csrf_token": csrf}).status_code == 403


def test_sync_queues_the_task_and_the_page_follows_it(committed_client, make_user, app):
    from tests.test_admin_panel import log_in

    queue = interactive_queue(app.config["SETTINGS"].session_name)
    get_redis().delete(queue)
    log_in(committed_client, make_user(Role.ADMIN))
    csrf = csrf_of(committed_client, "/admin/contacts")
    answer = committed_client.post("/admin/contacts/sync", data={"csrf_token": csrf})
    assert answer.status_code == 302
    task_id = re.search(r"sync=([0-9a-f-]{36})", answer.headers["Location"]).group(1)
    assert len(get_redis().lrange(queue, 0, -1)) == 1
    page = text_of(committed_client.get(answer.headers["Location"]))
    assert f"/admin/contacts/sync/{task_id}" in page
    fragment = committed_client.get(f"/admin/contacts/sync/{task_id}", headers={"X-Panel-Fragment": "1"})
    assert 'data-status="PENDING"' in fragment.get_data(as_text=True) and "X-Panel-Final" not in fragment.headers
    get_redis().delete(queue)


# -- scheduled -----------------------------------------------------------------------------------
def local_input(moment: datetime) -> str:
    return moment.astimezone(ROME).strftime("%Y-%m-%dT%H:%M")


def test_one_off_and_cron_schedules_their_next_runs_cancel_and_past_runs(client, logged_in, db_session):
    csrf = logged_in(Role.PROFESSIONAL)
    page = text_of(client.get("/admin/scheduled"))
    assert 'id="schedule-form"' in page and unlabelled(page) == []
    when = (now() + timedelta(days=1)).replace(second=0, microsecond=0)
    once = client.post("/admin/scheduled", data={"csrf_token": csrf, "recipients": "333 100 2001",
                                                  "message": "Promemoria", "kind": "once",
                                                  "sendAt": local_input(when), "timezone": "Europe/Rome"})
    assert once.status_code == 302, text_of(once)
    schedule = db_session.get(ScheduledMessage, ID.search(once.headers["Location"]).group(1))
    assert schedule.recipients == ["393331002001"] and schedule.next_run_at == when and schedule.cron is None
    detail = text_of(client.get(f"/admin/scheduled/{schedule.id}"))
    assert when.astimezone(ROME).strftime("%d/%m/%Y %H:%M") in detail and "Nessun invio ancora" in detail

    cron = client.post("/admin/scheduled", data={"csrf_token": csrf, "recipients": "3331002002", "message": "Ogni lunedì",
                                                  "kind": "cron", "cron": "0 9 * * 1", "timezone": "Europe/Rome",
                                                  "maxRuns": "3"})
    recurring = db_session.get(ScheduledMessage, ID.search(cron.headers["Location"]).group(1))
    runs = text_of(client.get(f"/admin/scheduled/{recurring.id}/runs", headers={"X-Panel-Fragment": "1"}))
    upcoming = re.findall(r"<li>(\w+ [\d/]+ 09:00)</li>", runs)
    assert len(upcoming) == 3 and all(day.startswith("lun") for day in upcoming)  # maxRuns caps the list
    listing = text_of(client.get("/admin/scheduled"))
    assert "0 9 * * 1" in listing and "+393331002001" in listing

    # a campaign (several numbers) is for ADMIN and up; an invalid cron is named
    campaign = client.post("/admin/scheduled", data={"csrf_token": csrf, "recipients": "3331002003\n3331002004",
                                                      "message": "x", "kind": "once", "sendAt": local_input(when)})
    assert campaign.status_code == 403 and "3331002003" in text_of(campaign)
    wrong = client.post("/admin/scheduled", data={"csrf_token": csrf, "recipients": "3331002003", "message": "x",
                                                   "kind": "cron", "cron": "every day"})
    assert wrong.status_code == 422 and "not a 5-field cron expression" in text_of(wrong)

    # the one-off's run: the past runs list it (beat's dispatch, run here at its time)
    scheduling.dispatch_due(db_session, grace_seconds=300, country="IT", at=when + timedelta(seconds=5))
    db_session.flush()
    runs = text_of(client.get(f"/admin/scheduled/{schedule.id}/runs", headers={"X-Panel-Fragment": "1"}))
    assert 'id="schedule-status">DONE' in runs and "SENT" in runs and "+393331002001 QUEUED" in runs

    assert client.post(f"/admin/scheduled/{recurring.id}/cancel", data={"csrf_token": csrf}).status_code == 302
    db_session.expire_all()
    assert db_session.get(ScheduledMessage, recurring.id).status == "CANCELLED"
    assert "cancel-schedule" not in text_of(client.get(f"/admin/scheduled/{recurring.id}"))
    assert client.post(f"/admin/scheduled/{recurring.id}/cancel", data={"csrf_token": csrf}).status_code == 409


def test_a_template_schedule_with_variables(client, logged_in, db_session):
    template = saved_template(db_session, "Appuntamento", "notification")
    csrf = logged_in(Role.ADMIN)
    when = local_input(now() + timedelta(hours=2))
    missing = client.post("/admin/scheduled", data={"csrf_token": csrf, "recipients": "3331002005",
                                                     "templateId": str(template.id), "kind": "once", "sendAt": when})
    assert missing.status_code == 422 and "missing template variables: nome" in text_of(missing)
    made = client.post("/admin/scheduled", data={"csrf_token": csrf, "recipients": "3331002005\n3331002006",
                                                  "templateId": str(template.id), "variables": "nome = Anna",
                                                  "kind": "once", "sendAt": when})
    assert made.status_code == 302
    schedule = db_session.get(ScheduledMessage, ID.search(made.headers["Location"]).group(1))
    assert schedule.variables == {"nome": "Anna"} and len(schedule.recipients) == 2
    assert "modello «Appuntamento» (nome=Anna)" in text_of(client.get(f"/admin/scheduled/{schedule.id}"))
