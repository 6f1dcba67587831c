"""A session's own pacing caps, set through /api/sessions, are what its worker enforces: the
simulator's arrival log shows them, over the worker's SEND_* environment."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from core.settings import get_settings
from models import Message
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

INTERVAL_MS = 800
DAILY_CAP = 3


def test_a_sessions_own_interval_and_daily_cap_hold_in_the_arrival_log(
        linked_session, fresh_simulator, committed_client, committed_db, admin):
    # the worker's environment would allow a send every 50 ms and no daily cap
    name = linked_session(name=f"{get_settings().session_name}-caps", fields={
        "sendMinIntervalMs": INTERVAL_MS, "sendJitterMs": 0, "sendMaxPerDay": DAILY_CAP},
        SEND_MIN_INTERVAL_MS="50", SEND_JITTER_MS="0", SEND_MAX_PER_DAY="0")
    tag = uuid.uuid4().hex
    ids = []
    for i in range(DAILY_CAP + 1):
        answer = committed_client.post(f"/api/whatsapp/send?session={name}", headers=admin,
                                       json={"phoneNumber": f"33300200{i:02d}", "message": f"cap {tag} {i}"})
        assert answer.status_code == 202
        ids.append(answer.json["data"]["messageId"])

    def deferred():
        committed_db.expire_all()
        rows = committed_db.query(Message).filter(Message.id.in_(ids)).all()
        later = datetime.now(timezone.utc) + timedelta(minutes=30)
        return [r for r in rows if r.status == "QUEUED" and r.not_before and r.not_before > later]

    [waiting] = wait_until(deferred, 60, "the send past the daily cap to be put off")
    assert "daily cap" in waiting.error_message
    committed_db.expire_all()
    sent = committed_db.query(Message).filter(Message.id.in_(ids), Message.status != "QUEUED").all()
    assert len(sent) == DAILY_CAP and all(row.session == name for row in sent)
    times = sorted(m["receivedAt"] for m in fresh_simulator.messages() if tag in (m.get("body") or ""))
    assert len(times) == DAILY_CAP
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= INTERVAL_MS / 1000, f"smallest gap {min(gaps):.3f} s"
