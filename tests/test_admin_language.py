"""The panel speaks Italian by default and English by Accept-Language or its switch (a cookie the
API's messages read too), every text through web.texts.say; every text a template or a panel view
names has its English."""
import html
import re
import string
from pathlib import Path

from models.enums import Role
from tests.test_admin_panel import csrf_of, log_in
from web.admin.connection import COMMANDS
from web.admin.texts import ENGLISH

ADMIN = Path(__file__).resolve().parents[1] / "web" / "admin"
NAMED = re.compile(r'''\b(?:_|say)\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')''')


def _named_texts() -> set[str]:
    found = set()
    for path in [*ADMIN.glob("templates/admin/*.html"), *ADMIN.glob("*.py")]:
        found |= {a or b for a, b in NAMED.findall(path.read_text())}
    return found | set(COMMANDS.values())


def test_every_panel_text_has_its_english():
    from web.texts import _TEXTS

    named = _named_texts()
    assert len(named) > 150
    assert sorted(text for text in named if text not in ENGLISH and text not in _TEXTS) == []


def test_every_english_keeps_the_placeholders_of_its_italian():
    def fields(text):
        return sorted(name for _, name, _, _ in string.Formatter().parse(text) if name)

    assert [italian for italian, english in ENGLISH.items() if fields(italian) != fields(english)] == []


def test_no_template_text_escapes_the_translation_function():
    """A template's visible words are in `_()`: what is left between tags is markup, data or symbols."""
    leftovers = []
    for path in ADMIN.glob("templates/admin/*.html"):
        source = path.read_text()
        for attribute in re.findall(r'(?:aria-label|title|alt|placeholder|data-confirm(?:-button)?)="([^"]*)"', source):
            if re.search(r"[A-Za-zÀ-ÿ]{3,}", re.sub(r"{{.*?}}", "", attribute)):
                leftovers.append((path.name, attribute))
        text = re.sub(r"{%.*?%}|{{.*?}}|{#.*?#}", " ", source, flags=re.S)
        text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S)
        for words in re.findall(r">([^<>]+)<", text):
            if re.search(r"[A-Za-zÀ-ÿ]{3,}", words) and words.strip() not in {"WhatsApp Gateway", "· WhatsApp Gateway", "English", "Italiano"}:
                leftovers.append((path.name, words.strip()))
    assert leftovers == []


def test_accept_language_english_gives_the_english_panel(client, make_user):
    user = make_user(Role.SUPER_ADMIN)
    english = {"Accept-Language": "en-GB,en;q=0.9"}
    login_page = client.get("/admin/login", headers=english).get_data(as_text=True)
    assert '<html lang="en">' in login_page and "<h1>Log in</h1>" in login_page
    log_in(client, user)
    page = client.get("/admin/monitoring", headers=english).get_data(as_text=True)
    assert "<h1>Monitoring</h1>" in page and "Messages per day" in page and "Monitoraggio" not in page
    italian = client.get("/admin/monitoring", headers={"Accept-Language": "it-IT,it;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert "<h1>Monitoraggio</h1>" in italian
    assert "<h1>Monitoraggio</h1>" in client.get("/admin/monitoring").get_data(as_text=True)  # no header: Italian


def test_the_switch_flips_the_panel_to_english_and_back_over_the_browsers_header(client, make_user):
    log_in(client, make_user(Role.SUPER_ADMIN))
    token = csrf_of(client, "/admin/users")
    switched = client.post("/admin/language", data={"lang": "en", "next": "/admin/users?role=ADMIN", "csrf_token": token})
    assert switched.status_code == 302 and switched.headers["Location"] == "/admin/users?role=ADMIN"
    cookie = next(v for v in switched.headers.getlist("Set-Cookie") if v.startswith("wagateway_lang="))
    assert "Path=/admin" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/admin/users").get_data(as_text=True)
    assert "<h1>Users</h1>" in page and 'id="language-switch" lang="it">Italiano' in page
    # the switch beats the browser's header, and the API's own texts on the page follow it
    refused = client.get("/admin/users?active=maybe", headers={"Accept-Language": "it"}).get_data(as_text=True)
    assert "<h1>Error 422</h1>" in refused
    client.post("/admin/language", data={"lang": "it", "next": "/admin/users", "csrf_token": token})
    assert "<h1>Utenti</h1>" in client.get("/admin/users", headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_the_switch_refuses_a_bad_language_a_foreign_target_and_a_missing_csrf_token(client):
    token = csrf_of(client)
    assert client.post("/admin/language", data={"lang": "fr", "csrf_token": token}).status_code == 422
    assert client.post("/admin/language", data={"lang": "en"}).status_code == 400
    away = client.post("/admin/language", data={"lang": "en", "next": "https://evil.example/", "csrf_token": token})
    assert away.headers["Location"] == "/admin/connection"



def test_the_templates_contacts_and_scheduled_pages_speak_english_by_accept_language(client, make_user):
    log_in(client, make_user(Role.ADMIN))
    csrf = csrf_of(client)
    english = {"Accept-Language": "en-GB,en;q=0.9"}

    def page(response) -> str:
        return html.unescape(response.get_data(as_text=True))

    listing = page(client.get("/admin/templates", headers=english))
    assert "<h1>Message templates</h1>" in listing and "+ New template" in listing and "No template." in listing
    assert "Modelli" not in listing and "Nuovo modello" not in listing
    created = client.post("/admin/templates", headers=english, data={
        "csrf_token": csrf, "name": "Promemoria", "category": "notification", "content": "Ciao {{nome}}",
        "isActive": "on", "variable_rows": "0"})
    assert created.status_code == 302
    edit = page(client.get(created.headers["Location"], headers=english))
    assert "Template «Promemoria» created" in edit  # the flash, said in the language of the POST
    assert ">Save</button>" in edit and "Name of variable 1" in edit and "Used 0 times." in edit
    assert 'data-confirm="Delete the template «Promemoria»? The messages already sent stay."' in edit
    assert "Salva" not in edit and "Eliminare" not in edit
    assert ">Salva</button>" in page(client.get(created.headers["Location"]))  # no header: Italian

    contacts = page(client.get("/admin/contacts", headers=english))
    assert "<h1>Contacts</h1>" in contacts and "Sync from the phone" in contacts and "No contact." in contacts
    assert "Sincronizza" not in contacts

    scheduled = client.post("/admin/scheduled", headers=english, data={
        "csrf_token": csrf, "recipients": "3331002002", "message": "Ogni lunedì", "kind": "cron",
        "cron": "0 9 * * 1", "timezone": "Europe/Rome", "maxRuns": "2"})
    assert scheduled.status_code == 302
    detail = page(client.get(scheduled.headers["Location"], headers=english))
    assert "Scheduled: first run " in detail and "<h1>Recurring: +393331002002</h1>" in detail
    assert "at most 2 times" in detail and "Next runs" in detail and re.findall(r"<li>Mon [\d/]+ 09:00</li>", detail)
    assert "Cancel the schedule?" in detail and "No run yet." in detail and "Prossimi invii" not in detail
    listing = page(client.get("/admin/scheduled", headers=english))
    assert "<h1>Scheduled messages</h1>" in listing and "Recipients (one per line)" in listing
