"""services.dispatch publishes with Celery's own send_task onto the queue's Redis list (real Redis;
the worker side is proven by the pipeline tests, whose every task goes through publish)."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pytest

from services import dispatch


@pytest.fixture
def queue(redis_client):
    name = f"wa.dispatch-{uuid.uuid4().hex[:8]}"
    yield name
    redis_client.delete(name, f"_kombu.binding.{name}")


def _messages(redis_client, queue: str) -> list[dict]:
    return [json.loads(raw) for raw in redis_client.lrange(queue, 0, -1)]


def test_a_task_is_published_on_its_queue_with_ids_only(redis_client, queue):
    job_id = str(uuid.uuid4())
    task_id = dispatch.publish(dispatch.RUN_BULK, [job_id, "chain-token"], queue)
    [message] = _messages(redis_client, queue)
    headers = message["headers"]
    assert (headers["task"], headers["id"], headers["argsrepr"]) == (dispatch.RUN_BULK, task_id,
                                                                     repr([job_id, "chain-token"]))
    assert headers["eta"] is None and headers["ignore_result"] is True
    assert message["properties"]["delivery_info"]["routing_key"] == queue


def test_a_countdown_becomes_the_tasks_eta(redis_client, queue):
    dispatch.publish(dispatch.MARK_READ, ["a"], queue, countdown=3)
    [message] = _messages(redis_client, queue)
    eta = datetime.fromisoformat(message["headers"]["eta"])
    assert 1 < (eta - datetime.now(timezone.utc)).total_seconds() <= 3


def test_each_publish_gets_its_own_task_id(redis_client, queue):
    first = dispatch.publish(dispatch.MARK_READ, ["a"], queue)
    second = dispatch.publish(dispatch.MARK_READ, ["a"], queue, task_id="chosen-id")
    assert first != second and second == "chosen-id"
    assert {m["headers"]["id"] for m in _messages(redis_client, queue)} == {first, second}


def test_an_unreachable_broker_fails_fast_with_a_publish_error(database):
    """Each app publishes to the broker of its own settings, and a broker that is away does not
    hold the request: the rows it queued wait for the outbox sweeper."""
    from dataclasses import replace

    from core.settings import get_settings
    from web import create_app

    app = create_app(replace(get_settings(), redis_url="redis://127.0.0.1:1/0"))
    started = datetime.now(timezone.utc)
    with app.app_context(), pytest.raises(dispatch.PUBLISH_ERRORS):
        dispatch.publish(dispatch.MARK_READ, ["a"], "wa.nowhere")
    assert (datetime.now(timezone.utc) - started).total_seconds() < 5
