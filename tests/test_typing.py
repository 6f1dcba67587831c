"""Typing before sending (per session, off by default): the contact sees "typing..." for a time that
grows with the text before each message, inside the pacing's spacing (seen on the simulator's
arrival log and its record of composing periods, with a real worker)."""
from __future__ import annotations

import uuid

import pytest

from tests.waiting import wait_until
from worker.composing import duration_seconds

INTERVAL = 3.0  # the session's sendMinIntervalMs, in seconds
TYPED = 2.0  # the typing of a 25-character text


def test_the_typing_time_grows_with_the_text_within_bounds():
    assert duration_seconds("ok") == 1.0  # at least a second
    assert duration_seconds("x" * 25) == 2.0  # 80 ms a character
    assert duration_seconds("x" * 50) == 4.0
    assert duration_seconds("x" * 5000) == 8.0  # at most 8 seconds
    assert duration_seconds(None) == 1.0  # a media message without a caption


def test_typing_is_off_by_default_and_switched_per_session(client, admin):
    name = f"ty{uuid.uuid4().hex[:8]}"
    created = client.post("/api/sessions", headers=admin, json={"name": name})
    assert created.status_code == 201 and created.json["data"]["typingBeforeSend"] is False
    changed = client.patch(f"/api/sessions/{name}", headers=admin, json={"typingBeforeSend": True})
    assert changed.status_code == 200 and changed.json["data"]["typingBeforeSend"] is True
    assert client.get(f"/api/sessions/{name}", headers=admin).json["data"]["typingBeforeSend"] is True
    bad = client.patch(f"/api/sessions/{name}", headers=admin, json={"typingBeforeSend": "perhaps"})
    assert bad.status_code == 422 and "typingBeforeSend" in str(bad.json)


@pytest.mark.browser
@pytest.mark.slow
def test_the_contact_sees_typing_before_each_message_inside_the_pacing(
        linked_session, fresh_simulator, committed_client, committed_db, admin):
    name = linked_session("ty", fields={"sendMinIntervalMs": int(INTERVAL * 1000), "sendJitterMs": 0})
    tag = uuid.uuid4().hex[:8]

    def send(number: str, text: str) -> None:
        answer = committed_client.post(f"/api/whatsapp/send?session={name}", headers=admin,
                                       json={"phoneNumber": number, "message": text})
        assert answer.status_code == 202, answer.json

    def arrived(prefix: str) -> list[dict]:
        return sorted((m for m in fresh_simulator.messages() if (m.get("body") or "").startswith(prefix)),
                      key=lambda m: m["receivedAt"])

    # off (the default): the message arrives, and its chat never showed "typing..."
    send("3330050001", f"plain {tag}")
    plain = wait_until(lambda: arrived(f"plain {tag}"), 60, "the untyped message")[0]
    assert fresh_simulator.composing(plain["chatId"]) == []

    # on: within the pacer's refresh of the session's settings (10 s), messages come typed
    assert committed_client.patch(f"/api/sessions/{name}", headers=admin,
                                  json={"typingBeforeSend": True}).status_code == 200
    prefix, sent = f"typed {tag} ", [0]

    def typed_so_far() -> list[dict]:
        """Typed messages arrived, one more queued whenever none is waiting (each 25 characters)."""
        got = arrived(prefix)
        if len(got) == sent[0]:
            send("3330050002", f"{prefix}{sent[0]:02d}".ljust(25, "."))
            sent[0] += 1
        periods = fresh_simulator.composing()
        return [m for m in got if any(p["chatId"] == m["chatId"] and p["startedAt"] < m["receivedAt"]
                                      for p in periods)]

    messages = wait_until(lambda: (t := typed_so_far()) and len(t) >= 3 and t[:3], 90,
                          "three typed messages", interval=0.2)
    periods = fresh_simulator.composing(messages[0]["chatId"])
    for message in messages:
        before = [p for p in periods if p["startedAt"] < message["receivedAt"]][-1]
        assert before["durationMs"] == TYPED * 1000
        # typing started its length before the message arrived, and was paused after it
        assert TYPED <= message["receivedAt"] - before["startedAt"] < TYPED + 1.0
        assert before["endedAt"] is not None
        assert abs(before["endedAt"] - before["startedAt"] - TYPED) < 0.5
    gaps = [b["receivedAt"] - a["receivedAt"] for a, b in zip(messages, messages[1:])]
    print(f"arrivals {INTERVAL} s apart by the pacing, {TYPED} s of typing each: gaps {gaps}")
    # the typing is inside the spacing: not INTERVAL + TYPED apart
    assert all(INTERVAL - 0.05 <= gap < INTERVAL + TYPED - 0.5 for gap in gaps), gaps
