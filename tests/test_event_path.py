"""The event path, page -> worker -> PostgreSQL, under random ack timing (issue 12): every ack and
every incoming message the page was handed changes its row. A real worker on the simulator, acks
drawn per message before and after the send's commit; see tests/event_soak.py."""
import os
import uuid

import pytest

from tests.event_soak import RANDOM_ACKS, WORKER_ENV, run_soak
from tests.fixtures.worker import launch_linked_worker, stop_workers

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROUNDS = int(os.environ.get("EVENT_SOAK_ROUNDS", "40"))


def test_every_ack_and_incoming_message_reaches_its_row(simulator, tmp_path_factory, committed_db,
                                                        redis_client):
    simulator.reset()
    simulator.config(autoAck=RANDOM_ACKS)
    session = f"ev{uuid.uuid4().hex[:8]}"
    worker = launch_linked_worker(simulator, tmp_path_factory.mktemp("tokens"), session, 0, redis_client,
                                  **WORKER_ENV)
    try:
        report = run_soak(simulator, session, ROUNDS, first_number=3350001000)
    finally:
        stop_workers([worker], redis_client)
    assert report.events >= 2 * ROUNDS  # at least the read ack and the incoming message of each round
    assert report.lost == [], f"{len(report.lost)} of {report.events} events lost: {report.lost[:5]}"
    assert report.parked_left == 0  # every ack parked for a send's commit was picked up
