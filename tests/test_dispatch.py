"""services.dispatch.publish writes the very message Celery's own send_task writes (protocol 2 on
the Redis transport), so workers, Flower and retries see no difference. Real Redis; the worker
side is proven by the pipeline tests, whose every task goes through publish."""
from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timezone

import pytest

from core.celery_app import celery_app
from services import dispatch

VARYING = {("properties", "delivery_tag"), ("properties", "reply_to"), ("headers", "origin"), ("headers", "eta")}


@pytest.fixture
def queues(redis_client):
    names = (f"wa.parity-{uuid.uuid4().hex[:8]}", f"wa.parity-{uuid.uuid4().hex[:8]}")
    yield names
    redis_client.delete(*names, *(f"_kombu.binding.{name}" for name in names))


def _only_message(redis_client, queue: str) -> dict:
    raw = redis_client.lrange(queue, 0, -1)
    assert len(raw) == 1, raw
    return json.loads(raw[0])


def _without_varying(message: dict) -> dict:
    return {section: ({k: v for k, v in value.items() if (section, k) not in VARYING}
                      if isinstance(value, dict) else value)
            for section, value in message.items()}


@pytest.mark.parametrize("ignore_result, countdown", [(True, None), (False, 30)])
def test_publish_writes_what_celery_send_task_writes(redis_client, queues, ignore_result, countdown):
    theirs_queue, ours_queue = queues
    task_id, args = str(uuid.uuid4()), [str(uuid.uuid4()), "chain-token"]

    celery_app.send_task(dispatch.RUN_BULK, args=args, queue=theirs_queue, task_id=task_id,
                         countdown=countdown, ignore_result=ignore_result)
    returned = dispatch.publish(dispatch.RUN_BULK, args, ours_queue, task_id=task_id, countdown=countdown,
                                ignore_result=ignore_result)

    theirs, ours = _only_message(redis_client, theirs_queue), _only_message(redis_client, ours_queue)
    assert returned == task_id
    theirs["properties"]["delivery_info"]["routing_key"] = ours_queue  # the one intended difference
    assert _without_varying(ours) == _without_varying(theirs)
    assert json.loads(base64.b64decode(ours["body"])) == [args, {}, {"callbacks": None, "errbacks": None,
                                                                     "chain": None, "chord": None}]
    assert ours["headers"]["argsrepr"] == theirs["headers"]["argsrepr"]
    if countdown:  # the same instant, whatever the offset each writes it in
        ours_eta = datetime.fromisoformat(ours["headers"]["eta"])
        theirs_eta = datetime.fromisoformat(theirs["headers"]["eta"])
        assert abs((ours_eta - theirs_eta).total_seconds()) < 2
        assert ours_eta > datetime.now(timezone.utc)
    else:
        assert ours["headers"]["eta"] is None and theirs["headers"]["eta"] is None


def test_each_publish_gets_its_own_task_id_and_delivery_tag(redis_client, queues):
    queue = queues[0]
    first = dispatch.publish(dispatch.MARK_READ, ["a"], queue)
    second = dispatch.publish(dispatch.MARK_READ, ["a"], queue)
    messages = [json.loads(raw) for raw in redis_client.lrange(queue, 0, -1)]
    assert first != second and {m["headers"]["id"] for m in messages} == {first, second}
    assert len({m["properties"]["delivery_tag"] for m in messages}) == 2
