"""The WhatsApp Web simulator: its control API over HTTP, and the injected WPP in headless Chromium."""
from __future__ import annotations

import base64
import shutil
import tempfile
import time

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ME = "393330000000"
PEER = "393331234567"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 24).decode()


# ----- control API ------------------------------------------------------------------------------
def post(sim, path, payload=None):
    return requests.post(sim.url + path, json=payload, timeout=5)


def test_blank_state_shows_no_qr_until_a_browser_opens_the_page(fresh_simulator):
    state = fresh_simulator.state()
    assert state["qr"] is None and state["linked"] is False and state["online"] is True
    assert state["me"] == ME
    assert post(fresh_simulator, "sim/scan").status_code == 409


def test_page_itself_does_not_define_wpp_and_script_is_served(fresh_simulator):
    page = requests.get(fresh_simulator.url, timeout=5).text
    assert "WPP" not in page
    script = requests.get(fresh_simulator.url + "wa-sim.js", timeout=5).text
    assert script == fresh_simulator.script_path.read_text()


@pytest.mark.parametrize("path,payload", [
    ("sim/incoming", {"body": "no sender"}),
    ("sim/incoming", {"from": "393331234567", "type": "image"}),
    ("sim/incoming", {"from": "393331234567", "type": "image", "media": {"data": "%%%"}}),
    ("sim/ack", {"id": "x", "ack": 9}),
    ("sim/config", {"qrRotateSeconds": -1}),
    ("sim/config", {"autoAck": {"serverMs": "soon"}}),
    ("sim/config", {"autoAck": {"readMs": [500, 100]}}),
    ("sim/not-on-whatsapp", {"numbers": "393331234567"}),
    ("sim/fail-next", {"count": 1, "error": "boom"}),
    ("sim/drop", {"seconds": 0}),
    ("sim/pairing/confirm", {}),
])
def test_bad_control_input_is_a_400_json_error(fresh_simulator, path, payload):
    response = post(fresh_simulator, path, payload)
    assert response.status_code == 400
    assert "error" in response.json()


def test_incoming_message_gets_a_wa_style_id_and_acks_need_a_known_id(fresh_simulator):
    msg_id = fresh_simulator.incoming(PEER, "ciao", pushname="Mario")
    assert msg_id.startswith(f"false_{PEER}@c.us_3EB0")
    group_id = fresh_simulator.incoming(PEER, "hi all", group="120363000000000001@g.us")
    assert group_id.startswith("false_120363000000000001@g.us_3EB0") and group_id.endswith(f"_{PEER}@c.us")
    assert post(fresh_simulator, "sim/ack", {"id": "true_1@c.us_NOPE", "ack": 2}).status_code == 404


def test_config_and_reset(fresh_simulator):
    state = fresh_simulator.config(qrRotateSeconds=3, qrMaxRotations=1, autoAck=None)
    assert (state["qrRotateSeconds"], state["qrMaxRotations"], state["autoAck"]) == (3, 1, None)
    fresh_simulator.not_on_whatsapp("393339999999")
    fresh_simulator.fail_next(2, "blocked")
    fresh_simulator.reset()
    state = fresh_simulator.state()
    assert (state["qrRotateSeconds"], state["qrMaxRotations"]) == (20, 5)
    assert state["autoAck"] == {"serverMs": 50, "deliveredMs": 500, "readMs": 1500}
    assert fresh_simulator.messages() == []


def test_drop_takes_the_connection_down_for_a_while(fresh_simulator):
    fresh_simulator.drop(0.3)
    assert fresh_simulator.state()["online"] is False
    fresh_simulator.wait_for(lambda: fresh_simulator.state()["online"], timeout=3, what="reconnect")


# ----- headless Chromium ------------------------------------------------------------------------
class Browser:
    """A headless Chromium on the simulator page, with the script injected like the driver does."""

    def __init__(self, sim, profile: str):
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-quic", f"--user-data-dir={profile}"):
            options.add_argument(arg)
        self.sim = sim
        self.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        self.driver.set_script_timeout(15)

    def open(self) -> "Browser":
        self.driver.get(self.sim.url)
        assert self.driver.execute_script("return typeof window.WPP") == "undefined"
        self.driver.execute_script(self.sim.script_path.read_text())
        self.sim.wait_for(lambda: self.js("return WPP.isReady"), what="WPP.isReady")
        self.js("""
            window.__events = [];
            WPP.ev.onAny((name, payload) => window.__events.push(
                {name, payload: payload === undefined ? null : JSON.parse(JSON.stringify(payload))}));
        """)
        return self

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def call(self, body, *args):
        """Run an async JS body (with `args`); return {ok: value} or {err: {code, message}}."""
        return self.driver.execute_async_script(f"""
            const done = arguments[arguments.length - 1];
            const args = Array.from(arguments).slice(0, -1);
            (async () => {{ {body} }})().then(
                (v) => done({{ok: v === undefined ? null : JSON.parse(JSON.stringify(v))}}),
                (e) => done({{err: typeof e === 'string' ? {{code: e}}
                                                          : {{code: e.code, message: e.message}}}}));
        """, *args)

    def ok(self, body, *args):
        result = self.call(body, *args)
        assert "ok" in result, result
        return result["ok"]

    def events(self, name=None):
        events = self.js("return window.__events")
        return [e for e in events if name is None or e["name"] == name]

    def wait_event(self, name, timeout=5.0, count=1):
        return self.sim.wait_for(lambda: len(self.events(name)) >= count and self.events(name), timeout,
                                 what=name)

    def link(self) -> "Browser":
        code = self.sim.wait_for(lambda: self.ok("return await WPP.conn.getAuthCode()"), what="QR")
        self.sim.scan(qr=code["fullCode"])  # the phone scans this browser's screen, not another one
        self.sim.wait_for(lambda: self.js("return WPP.conn.isMainReady()"), what="main ready")
        return self

    def quit(self):
        self.driver.quit()


@pytest.fixture(scope="module")
def profiles():
    made = []

    def new():
        made.append(tempfile.mkdtemp(prefix="wa-sim-profile-"))
        return made[-1]

    yield new
    for path in made:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def shared_browser(simulator, profiles):
    browser = Browser(simulator, profiles())
    yield browser
    browser.quit()


@pytest.fixture
def page(fresh_simulator, shared_browser):
    """The module's browser on a freshly loaded page, WPP injected, not linked."""
    fresh_simulator.config(autoAck=None)
    return shared_browser.open()


@pytest.fixture
def linked(page):
    return page.link()


@pytest.mark.browser
def test_qr_shown_by_the_page_is_the_auth_code_of_the_injected_wpp(page, fresh_simulator):
    state = fresh_simulator.wait_for(lambda: fresh_simulator.state()["qr"] and fresh_simulator.state())
    code = page.ok("return await WPP.conn.getAuthCode()")
    assert code["fullCode"] == state["qr"]
    assert code["type"] == "multidevice"
    assert code["fullCode"] == ",".join([code["ref"], code["staticKeyPair"], code["identityKeyPair"],
                                         code["secretKey"]])
    assert code["ref"].startswith("2@")
    assert page.js("return WPP.conn.isAuthenticated() || WPP.conn.isMainReady()") is False
    page.sim.wait_for(lambda: page.js("return document.getElementById('qr-img').getAttribute('data-ref')")
                      == state["qr"], what="QR image")


@pytest.mark.browser
def test_scanning_links_the_device(page, fresh_simulator):
    fresh_simulator.wait_for(lambda: fresh_simulator.state()["qr"], what="QR")
    fresh_simulator.scan()  # no argument: the page that showed its QR most recently
    page.sim.wait_for(lambda: page.js("return WPP.conn.isMainReady()"), what="main ready")
    names = [e["name"] for e in page.events()]
    assert names.index("conn.authenticated") < names.index("conn.main_ready")
    assert page.js("return WPP.conn.isAuthenticated() && WPP.conn.isRegistered()") is True
    assert page.js("return WPP.conn.getMyUserId().toString()") == f"{ME}@c.us"
    assert page.ok("return await WPP.conn.getAuthCode()") is None
    assert fresh_simulator.state()["linked"] is True
    page.sim.wait_for(lambda: page.js("return !document.getElementById('app').hidden"), what="chat list")


@pytest.mark.browser
def test_sent_text_reaches_the_simulator_and_acks_come_back(linked, fresh_simulator):
    fresh_simulator.config(autoAck={"serverMs": 0, "deliveredMs": 100, "readMs": 200})
    sent = linked.ok("return await WPP.chat.sendTextMessage(args[0], 'hello there')", f"{PEER}@c.us")
    assert sent["id"].startswith(f"true_{PEER}@c.us_3EB0")
    assert sent["ack"] == 1 and sent["to"] == f"{PEER}@c.us" and sent["from"] == f"{ME}@c.us"
    assert sent["sendMsgResult"] == {"messageSendResult": "OK"}
    [received] = fresh_simulator.messages()
    assert received["id"] == sent["id"] and received["body"] == "hello there"
    assert received["to"] == PEER and received["chatId"] == f"{PEER}@c.us" and received["type"] == "chat"
    acks = linked.wait_event("chat.msg_ack_change", count=3)
    assert [a["payload"]["ack"] for a in acks] == [1, 2, 3]
    assert acks[2]["payload"]["chat"] == f"{PEER}@c.us"
    assert acks[2]["payload"]["ids"][0]["_serialized"] == sent["id"]


@pytest.mark.browser
def test_random_ack_delays_and_the_log_of_what_the_page_was_handed(linked, fresh_simulator):
    fresh_simulator.config(autoAck={"serverMs": [0, 20], "deliveredMs": [0, 20], "readMs": [300, 400]})
    sent = linked.ok("return await WPP.chat.sendTextMessage(args[0], 'hello')", f"{PEER}@c.us")
    incoming = fresh_simulator.incoming(PEER, "ciao")
    linked.wait_event("chat.new_message")
    def seen() -> list[int]:
        return [a["payload"]["ack"] for a in linked.events("chat.msg_ack_change")]

    acks = linked.sim.wait_for(lambda: 3 in seen() and seen(), what="the read ack")
    assert acks[-1] == 3 and acks == sorted(acks)  # only up: an early delivered ack may hide ack 1
    def fetched() -> list[dict]:
        log = fresh_simulator.emitted()
        return log if len(log) == len(acks) + 1 and all(e["pageAt"] for e in log) else []

    logged = fresh_simulator.wait_for(fetched, what="every event fetched by the page")
    assert [(e["name"], e["ack"]) for e in logged if e["ids"] == [sent["id"]]] == \
        [("chat.msg_ack_change", ack) for ack in acks]
    [new] = [e for e in logged if e["name"] == "chat.new_message"]
    assert new["ids"] == [incoming] and new["at"] <= new["pageAt"]
    assert fresh_simulator.emitted(after=logged[-1]["seq"]) == []


@pytest.mark.browser
def test_incoming_messages_and_manual_acks_are_forwarded(linked, fresh_simulator):
    msg_id = fresh_simulator.incoming(PEER, "ciao", pushname="Mario")
    [event] = linked.wait_event("chat.new_message")
    msg = event["payload"]
    assert msg["id"]["_serialized"] == msg_id and msg["id"]["fromMe"] is False
    assert (msg["body"], msg["type"], msg["notifyName"]) == ("ciao", "chat", "Mario")
    assert msg["isGroupMsg"] is False
    assert msg["from"] == f"{PEER}@c.us" and msg["to"] == f"{ME}@c.us" and isinstance(msg["t"], int)
    history = linked.ok("return (await WPP.chat.getMessages(args[0], {count: 10})).map(m => m.serialize())",
                        f"{PEER}@c.us")
    assert [m["body"] for m in history] == ["ciao"]
    assert linked.ok("return await WPP.chat.markIsRead(args[0])", PEER) == {
        "wid": f"{PEER}@c.us", "unreadCount": 1}
    sent = linked.ok("return await WPP.chat.sendTextMessage(args[0], 'reply')", PEER)
    fresh_simulator.ack(sent["id"], 3)
    read = linked.wait_event("chat.msg_ack_change", count=2)[-1]["payload"]
    assert read["ack"] == 3 and read["ids"][0]["_serialized"] == sent["id"]
    contacts = linked.ok("return (await WPP.contact.list())"
                         ".map(c => ({id: c.id.toString(), pushname: c.pushname}))")
    assert {"id": f"{PEER}@c.us", "pushname": "Mario"} in contacts


@pytest.mark.browser
def test_media_is_sent_and_downloaded(linked, fresh_simulator):
    sent = linked.ok("return await WPP.chat.sendFileMessage(args[0], 'data:image/png;base64,' + args[1], "
                     "{type: 'image', caption: 'look'})", PEER, PNG)
    assert set(sent) == {"id", "ack", "sendMsgResult"}
    [received] = fresh_simulator.messages()
    assert (received["type"], received["mimetype"], received["caption"]) == ("image", "image/png", "look")
    msg_id = fresh_simulator.incoming(PEER, type="document", media={
        "mimetype": "application/pdf", "data": PNG, "filename": "a.pdf", "caption": "doc"})
    data = linked.ok("const blob = await WPP.chat.downloadMedia(args[0]);"
                     "return {type: blob.type, b64: await new Promise(r => { const f = new FileReader();"
                     " f.onload = () => r(f.result.split(',')[1]); f.readAsDataURL(blob); })}", msg_id)
    assert data == {"type": "application/pdf", "b64": PNG}
    bad = linked.call("return await WPP.chat.sendFileMessage(args[0], 'not a file!')", PEER)
    assert bad["err"]["code"] == "invalid_data_url"


@pytest.mark.browser
def test_numbers_not_on_whatsapp_fail_like_missing_chats(linked, fresh_simulator):
    fresh_simulator.not_on_whatsapp("393339999999")
    assert linked.ok("return await WPP.contact.queryWidExists('393339999999@c.us')") is None
    assert linked.ok("return await WPP.contact.queryExists(args[0])", f"{PEER}@c.us") == {
        "wid": f"{PEER}@c.us", "biz": False}
    result = linked.call("return await WPP.chat.sendTextMessage('393339999999@c.us', 'hi')")
    assert result["err"]["code"] == "chat_not_found"
    invalid = linked.call("return await WPP.chat.sendTextMessage('not a number', 'hi')")
    assert invalid["err"]["code"] == "invalid_wid"
    assert fresh_simulator.messages() == []


@pytest.mark.browser
def test_simulated_send_failures_have_distinct_codes(linked, fresh_simulator):
    fresh_simulator.fail_next(1, "rate_limit")
    fresh_simulator.fail_next(1, "blocked")
    send = "return await WPP.chat.sendTextMessage(args[0], 'x')"
    assert linked.call(send, PEER)["err"]["code"] == "rate_overlimit"
    assert linked.call(send, PEER)["err"]["code"] == "blocked"
    assert "ok" in linked.call(send, PEER)
    assert len(fresh_simulator.messages()) == 1


@pytest.mark.browser
def test_send_during_a_drop_waits_for_the_connection(linked, fresh_simulator):
    fresh_simulator.drop(1.0)
    linked.wait_event("conn.online")
    started = time.time()
    sent = linked.ok("return await WPP.chat.sendTextMessage(args[0], 'queued')", PEER)
    assert time.time() - started >= 0.5
    assert [e["payload"] for e in linked.events("conn.online")] == [False, True]
    assert fresh_simulator.messages()[0]["id"] == sent["id"]


@pytest.mark.browser
def test_phone_side_logout_returns_to_the_qr_screen(linked, fresh_simulator):
    fresh_simulator.logout()
    linked.wait_event("conn.require_auth")
    names = [e["name"] for e in linked.events()]
    assert names.index("conn.logout") < len(names) - names[::-1].index("conn.require_auth") - 1
    assert linked.js("return WPP.conn.isAuthenticated() || WPP.conn.isMainReady()") is False
    state = fresh_simulator.wait_for(lambda: fresh_simulator.state()["qr"] and fresh_simulator.state())
    assert state["linked"] is False
    assert linked.ok("return (await WPP.conn.getAuthCode()).fullCode") == state["qr"]
    refused = linked.call("return await WPP.chat.sendTextMessage(args[0], 'x')", PEER)
    assert refused["err"]["code"] == "not_ready"


@pytest.mark.browser
def test_qr_rotates_then_goes_idle_until_refreshed(page, fresh_simulator):
    fresh_simulator.config(qrRotateSeconds=0.3, qrMaxRotations=2)
    page.js("window.__events = []")
    page.wait_event("conn.qrcode_idle", timeout=5)
    codes = [e["payload"]["fullCode"] for e in page.events("conn.auth_code_change")]
    assert len(codes) == 2 and len(set(codes)) == 2
    assert page.ok("return await WPP.conn.getAuthCode()") is None
    assert fresh_simulator.state()["qrIdle"] is True
    assert page.js("return WPP.conn.isIdle()") is True
    fresh_simulator.config(qrRotateSeconds=20)
    refreshed = page.ok("return await WPP.conn.refreshQR()")
    assert refreshed["fullCode"] == fresh_simulator.state()["qr"]


@pytest.mark.browser
def test_pairing_code_links_the_device(page, fresh_simulator):
    code = page.ok("return await WPP.conn.startLinkDeviceCodeForPhoneNumber(args[0])", ME)
    assert len(code) == 8 and code.isalnum()
    assert page.ok("return await WPP.conn.startLinkDeviceCodeForPhoneNumber(args[0])", ME) == code
    assert page.wait_event("conn.link_code_change")[0]["payload"] == code
    assert fresh_simulator.state()["pairingCode"] == code
    fresh_simulator.confirm_pairing(code[:4] + "-" + code[4:])
    page.wait_event("conn.main_ready")
    again = page.call("return await WPP.conn.startLinkDeviceCodeForPhoneNumber(args[0])", ME)
    assert again["err"]["code"] == "cannot_get_code_for_already_authenticated"


@pytest.mark.browser
def test_login_persists_in_the_browser_profile(fresh_simulator, profiles):
    profile = profiles()
    first = Browser(fresh_simulator, profile)
    try:
        first.open().link()
    finally:
        first.quit()
    second = Browser(fresh_simulator, profile)
    try:
        second.open()
        second.wait_event("conn.main_ready")
        assert second.js("return WPP.conn.isAuthenticated() && WPP.conn.isMainReady()") is True
        assert second.events("conn.require_auth") == []
        sent = second.ok("return await WPP.chat.sendTextMessage(args[0], 'still here')", PEER)
        assert fresh_simulator.messages()[0]["id"] == sent["id"]
    finally:
        second.quit()
    other = Browser(fresh_simulator, profiles())
    try:
        other.open()
        assert other.js("return WPP.conn.isAuthenticated()") is False
    finally:
        other.quit()
