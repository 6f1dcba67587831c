"""The admin pages in headless Chromium against the app under gunicorn: a SUPER_ADMIN creates a
user who then logs in with that role; issues an API token that works on the API until it is
revoked; an ADMIN and a PROFESSIONAL get the 403 page by URL; the language switch."""
import json
import urllib.error
import urllib.request

import pytest

from models.enums import Role
from tests.fixtures.web import PASSWORD
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _api_status(base_url: str, path: str, bearer: str) -> tuple[int, dict]:
    request = urllib.request.Request(base_url + path, headers={"Authorization": f"Bearer {bearer}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as refused:
        return refused.code, json.load(refused)


def _fill(page, css: str, value: str) -> None:
    field = page.find(css)
    field.clear()
    field.send_keys(value)


def test_a_super_admin_creates_a_user_who_logs_in_with_that_role(panel_browser, make_user):
    page = panel_browser.login(make_user(Role.SUPER_ADMIN).email, PASSWORD)
    page.find("#nav-admin").click()
    wait_until(lambda: page.count("#create-user"), 30, "the users page")
    _fill(page, "#new-email", "panel-made@example.com")
    _fill(page, "#new-password", "a long password")
    page.driver.execute_script("document.getElementById('new-role').value = 'ADMIN'")
    page.find("#create-user button[type=submit]").click()
    wait_until(lambda: page.count('tr[data-email="panel-made@example.com"]'), 30, "the new user in the list")
    assert page.text('tr[data-email="panel-made@example.com"] .role') == "ADMIN"

    page.find("header form.who button").click()  # log out, then in as the new user
    wait_until(lambda: page.count("#email"), 30, "the login form")
    page.login("panel-made@example.com", "a long password")
    assert page.text("#who") == "panel-made@example.com · ADMIN"
    assert page.count('a[href="/admin/bulk"]') == 1  # an ADMIN's page: bulk, but no users
    assert page.text("#nav-admin") == "Token API"


def test_a_token_issued_in_the_panel_works_on_the_api_until_revoked(panel_browser, panel_server, make_user):
    page = panel_browser.login(make_user(Role.SUPER_ADMIN).email, PASSWORD).open("/admin/tokens")
    _fill(page, "#token-name", "crm-browser")
    page.driver.execute_script("document.getElementById('token-role').value = 'PROFESSIONAL'")
    page.find("#issue-token button[type=submit]").click()
    wait_until(lambda: page.count("#issued-token"), 30, "the issued token")
    bearer = page.driver.execute_script("return document.getElementById('issued-token').value").strip()
    status, body = _api_status(panel_server, "/api/auth/me", bearer)
    assert status == 200 and body["data"]["role"] == "PROFESSIONAL" and body["data"]["name"] == "crm-browser"

    page.open("/admin/tokens")
    assert bearer not in page.driver.page_source  # shown once
    page.find('tr[data-name="crm-browser"] button.revoke').click()
    page.driver.switch_to.alert.accept()
    wait_until(lambda: "revocato" in page.text('tr[data-name="crm-browser"] .token-state'), 30, "the token revoked")
    status, body = _api_status(panel_server, "/api/auth/me", bearer)
    assert status == 401 and body["error"]["type"] == "AUTHENTICATION_ERROR"


@pytest.mark.parametrize("role", [Role.ADMIN, Role.PROFESSIONAL])
def test_admins_and_professionals_get_the_403_page_by_url(panel_browser, make_user, role):
    page = panel_browser.login(make_user(role).email, PASSWORD)
    assert not page.count('a[href="/admin/users"]')
    for path in ("/admin/users", "/admin/audit", "/admin/errors"):
        page.open(path)
        assert page.text("h1") == "Errore 403", path
        assert page.attributes("[data-error-type]", "data-error-type") == ["PERMISSION_DENIED"]


def test_the_language_switch_flips_the_page_to_english_and_back(panel_browser, make_user):
    page = panel_browser.login(make_user(Role.SUPER_ADMIN).email, PASSWORD).open("/admin/users")
    assert page.text("h1") == "Utenti" and page.driver.find_element("css selector", "html").get_attribute("lang") == "it"
    page.find("#language-switch").click()
    wait_until(lambda: page.text("h1") == "Users", 30, "the page in English")
    assert page.driver.current_url.endswith("/admin/users")
    assert page.text("#nav-admin") == "Administration" and page.text("label[for=new-email]") == "Email"
    assert page.driver.find_element("css selector", "html").get_attribute("lang") == "en"
    page.open("/admin/monitoring")  # the choice holds on every page
    assert page.text("h1") == "Monitoring"
    page.find("#language-switch").click()
    wait_until(lambda: page.text("h1") == "Monitoraggio", 30, "the page back in Italian")


def test_keyboard_only_a_super_admin_reaches_the_create_form(panel_browser, make_user):
    """Tab order: the skip link first, then the fields in reading order, every one with a label."""
    from selenium.webdriver.common.keys import Keys

    page = panel_browser.login(make_user(Role.SUPER_ADMIN).email, PASSWORD).open("/admin/users")
    body = page.find("body")
    body.send_keys(Keys.TAB)
    assert page.driver.switch_to.active_element.get_attribute("class") == "skip"
    unlabelled = page.driver.execute_script("""
        return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
          .filter(f => !(f.labels && f.labels.length) && !f.getAttribute('aria-label')).map(f => f.name)""")
    assert unlabelled == []
    page.find("#new-email").send_keys("keys@example.com", Keys.TAB)
    assert page.driver.switch_to.active_element.get_attribute("id") == "new-password"


def test_the_admin_pages_fit_a_phone_sized_screen(panel_browser, make_user):
    """390 px wide: no page scrolls sideways (wide tables scroll inside their own box)."""
    page = panel_browser.login(make_user(Role.SUPER_ADMIN).email, PASSWORD)
    page.driver.set_window_size(390, 844)
    wider = []
    for path in ("/admin/users", "/admin/tokens", "/admin/audit", "/admin/errors", "/admin/monitoring", "/admin/connection"):
        page.open(path)
        overflow = page.driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if overflow > 0:
            wider.append((path, overflow, page.driver.execute_script("""
                return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right >
                  document.documentElement.clientWidth + 1 && !(e.parentElement && e.parentElement.closest('.table-wrap'))).slice(0, 5)
                  .map(e => e.tagName + '#' + e.id + '.' + e.className + ':' + Math.round(e.getBoundingClientRect().right))""")))
    assert wider == []
