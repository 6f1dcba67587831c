"""WhatsApp groups on a real worker and the simulator, LID mode off and on: a group created,
participants changed (codes per participant), read back with people by phone number, text sent to
it through the message pipeline, an incoming group message from a LID author filed under the
author's number, participant changes recorded, and wa-js's refusals as 4xx with Italian messages."""
from __future__ import annotations

import uuid

import pytest

from core.redis import Keys
from models import GroupParticipantChange, Message
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def group_session(linked_session):
    return linked_session("grp", SEND_MIN_INTERVAL_MS="50", SEND_JITTER_MS="0")


class Api:
    """The group routes of one session, as a client uses them."""

    def __init__(self, client, headers, session):
        self.client, self.headers, self.session = client, headers, session

    def get(self, path, expect=200):
        response = self.client.get(f"/api/whatsapp{path}{'&' if '?' in path else '?'}session={self.session}",
                                   headers=self.headers)
        assert response.status_code == expect, response.json
        return response.json

    def post(self, path, body=None, expect=202):
        response = self.client.post(f"/api/whatsapp{path}?session={self.session}", headers=self.headers,
                                    json=body or {})
        assert response.status_code == expect, response.json
        return response.json

    def operation(self, path, body=None) -> dict:
        """Queue a group change and wait for its outcome (DONE or FAILED)."""
        queued = self.post(path, body)["data"]
        assert queued["status"] == "PENDING"
        return wait_until(lambda: (op := self.get(f"/groups/operations/{queued['operationId']}")["data"])
                          ["status"] in ("DONE", "FAILED") and op, 30, f"the operation {path}")

    def done(self, path, body=None) -> dict:
        operation = self.operation(path, body)
        assert operation["status"] == "DONE", operation
        return operation["result"]


def by_phone(people):
    return {p["phoneNumber"]: p for p in people}


@pytest.mark.parametrize("lid_mode", [False, True], ids=["phone", "lid"])
def test_a_group_created_changed_read_and_written_to(lid_mode, group_session, fresh_simulator, committed_client,
                                                     committed_db, admin, redis_client):
    sim, api = fresh_simulator, Api(committed_client, admin, group_session)
    anna, bruno, carla = "393335550001", "393335550002", "393335550003"
    lids = {n: sim.lid(n) for n in (anna, bruno, carla)} if lid_mode else {}

    created = api.done("/groups", {"subject": "Squadra", "participants": [f"+{anna}", bruno]})
    group_id = created["groupId"]
    assert group_id.endswith("@g.us")
    assert {p["phoneNumber"]: p["code"] for p in created["participants"]} == {anna: 200, bruno: 200}
    assert redis_client.get(f"{Keys.pacing(group_session)}:next")  # paced like a send: the pacer saw it

    listed = {g["id"]: g for g in api.get("/groups")["data"]}
    assert listed[group_id]["subject"] == "Squadra" and listed[group_id]["iAmAdmin"] is True
    assert listed[group_id]["size"] == 3

    added = api.done(f"/groups/{group_id}/participants", {"action": "add", "participants": [carla, anna]})
    assert {p["phoneNumber"]: p["code"] for p in added["participants"]} == {carla: 200, anna: 409}
    api.done(f"/groups/{group_id}/participants", {"action": "promote", "participants": [bruno]})
    api.done(f"/groups/{group_id}/participants", {"action": "remove", "participants": [carla]})
    api.done(f"/groups/{group_id.split('@')[0]}/subject", {"subject": "Squadra  blu"})

    group = api.get(f"/groups/{group_id}")["data"]
    people = by_phone(group["participants"])
    assert set(people) == {anna, bruno, sim.state()["me"]}  # numbers, never LIDs, whatever WhatsApp used
    assert people[bruno]["isAdmin"] and not people[anna]["isAdmin"]
    assert (group["subject"], group["lidAddressing"]) == ("Squadra blu", lid_mode)
    assert people[anna]["lid"] == lids.get(anna)
    assert sim.group(group_id)["subject"] == "Squadra blu"

    # WhatsApp reported each change: recorded with people by number (LIDs resolved)
    def changes():
        committed_db.expire_all()
        return [(c.action, [p["phoneNumber"] for p in c.participants])
                for c in committed_db.query(GroupParticipantChange).filter_by(session=group_session,
                                                                              group_id=group_id).order_by("id")]
    wait_until(lambda: len(changes()) >= 3, 30, "the participant changes")
    assert changes() == [("add", [carla]), ("promote", [bruno]), ("remove", [carla])]
    page = api.get(f"/groups/{group_id}/participant-changes")["data"]
    assert [c["action"] for c in page] == ["remove", "promote", "add"]
    assert page[0]["author"]["phoneNumber"] == sim.state()["me"]

    # text to the group: the one message pipeline, addressed by groupId
    sent = api.post("/send", {"groupId": group_id, "message": "ciao a tutti"})["data"]
    assert (sent["groupId"], sent["phoneNumber"]) == (group_id, None)
    [arrived] = wait_until(lambda: [m for m in sim.messages() if m["body"] == "ciao a tutti"], 30, "the send")
    assert arrived["chatId"] == group_id

    def status(message_id):
        committed_db.expire_all()
        return committed_db.get(Message, uuid.UUID(message_id)).status
    wait_until(lambda: status(sent["messageId"]) in ("SENT", "DELIVERED", "READ"), 30, "the row to be SENT")

    # an incoming group message from a LID author: filed under the author's phone number
    sim.incoming(anna, "ci sono", pushname="Anna", group=group_id)
    [incoming] = wait_until(lambda: committed_db.expire_all() or committed_db.query(Message).filter_by(
        session=group_session, body="ci sono").all(), 30, "the incoming group message")
    assert (incoming.phone_number, incoming.lid, incoming.chat_id, incoming.is_group_msg) == \
        (anna, lids.get(anna), group_id, True)
    in_group = api.get(f"/messages?groupId={group_id}")["data"]
    assert [m["message"] for m in in_group] == ["ci sono", "ciao a tutti"]
    assert [m["message"] for m in api.get(f"/messages/{anna}")["data"]] == ["ci sono"]

    link = api.get(f"/groups/{group_id}/invite-link")["data"]
    assert link["inviteLink"] == "https://chat.whatsapp.com/" + link["inviteCode"]
    revoked = api.done(f"/groups/{group_id}/invite-link/revoke")
    assert revoked["inviteCode"] != link["inviteCode"]

    api.done(f"/groups/{group_id}/leave")
    assert sim.state()["me"] + "@c.us" not in {p["id"] for p in sim.group(group_id)["participants"]}


def test_whatsapp_refusals_are_4xx_with_italian_messages(group_session, fresh_simulator, committed_client,
                                                         committed_db, admin):
    sim, api = fresh_simulator, Api(committed_client, admin, group_session)
    owner, member, stranger = "393335550011", "393335550012", "393335550013"
    theirs = sim.create_group("Non mio", owner, [member])  # we are a member, not an admin
    sim.lid(owner)

    refused = api.operation(f"/groups/{theirs}/participants", {"action": "add", "participants": [stranger]})
    assert refused["status"] == "FAILED"
    assert refused["error"]["code"] == "group_you_are_not_admin" and refused["error"]["status"] == 403
    assert refused["error"]["userMessage"] == "L'account WhatsApp non è amministratore del gruppo."

    missing = committed_client.get(f"/api/whatsapp/groups/120363000000000001?session={group_session}",
                                   headers=admin)
    assert missing.status_code == 404
    assert missing.json["error"]["userMessage"] == "Il gruppo non esiste o l'account non lo vede."
    not_admin = committed_client.get(f"/api/whatsapp/groups/{theirs}/invite-link?session={group_session}",
                                     headers=admin)
    assert (not_admin.status_code, not_admin.json["error"]["type"]) == (403, "PERMISSION_DENIED")

    # read: the owner is LID-addressed, shown by number
    group = api.get(f"/groups/{theirs}")["data"]
    assert group["owner"]["phoneNumber"] == owner and group["iAmAdmin"] is False

    ours = api.done("/groups", {"subject": "Mio", "participants": [member]})["groupId"]
    again = api.operation(f"/groups/{ours}/participants", {"action": "demote", "participants": [member]})
    assert again["error"]["code"] == "group_participant_is_already_not_a_group_admin"
    assert again["error"]["status"] == 409
    sim.not_on_whatsapp(stranger)
    nobody = api.operation("/groups", {"subject": "Vuoto", "participants": [stranger]})
    assert (nobody["error"]["code"], nobody["error"]["type"]) == ("participant_not_exists", "NOT_WHATSAPP")
    outsider = api.operation(f"/groups/{ours}/participants", {"action": "remove", "participants": [owner]})
    assert outsider["error"]["code"] == "not_valid_group_participants"

    # someone else's change from their phone, by a LID author: recorded under the author's number
    sim.change_group(theirs, "add", [stranger], owner)
    changed = wait_until(lambda: committed_db.expire_all() or committed_db.query(GroupParticipantChange).filter_by(
        session=group_session, group_id=theirs).all(), 30, "the participant change")
    assert (changed[0].author_phone, changed[0].author_lid) == (owner, sim.lid(owner))
    assert changed[0].participants == [{"phoneNumber": stranger, "lid": None}]


def test_an_addition_awaiting_approval_is_reported_per_participant(group_session, fresh_simulator,
                                                                   committed_client, admin):
    sim, api = fresh_simulator, Api(committed_client, admin, group_session)
    sim.needs_approval("393335550022")
    result = api.done("/groups", {"subject": "Approvazione", "participants": ["393335550021"]})
    added = api.done(f"/groups/{result['groupId']}/participants",
                     {"action": "add", "participants": ["393335550022", "393335550023"]})
    assert {p["phoneNumber"]: p["code"] for p in added["participants"]} == {"393335550022": 421,
                                                                            "393335550023": 200}


def test_group_changes_and_sends_share_the_sessions_limits(linked_session, fresh_simulator, committed_client, admin):
    name = linked_session("grc", SEND_MIN_INTERVAL_MS="50", SEND_JITTER_MS="0", SEND_MAX_PER_HOUR="2")
    api = Api(committed_client, admin, name)
    group_id = api.done("/groups", {"subject": "Limiti", "participants": ["393335550031"]})["groupId"]  # 1
    api.post("/send", {"groupId": group_id, "message": "uno"})  # 2: the hour's last
    wait_until(lambda: [m for m in fresh_simulator.messages() if m["body"] == "uno"], 30, "the send")
    capped = api.operation(f"/groups/{group_id}/participants", {"action": "add", "participants": ["393335550032"]})
    assert (capped["status"], capped["error"]["code"], capped["error"]["status"]) == \
        ("FAILED", "session_cap_reached", 429)
    assert "393335550032@c.us" not in {p["id"] for p in fresh_simulator.group(group_id)["participants"]}
