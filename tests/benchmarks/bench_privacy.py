"""Retention purge of 1,000,000 old messages while /send keeps serving (issue 19).

Fills the bench database with BENCH_PURGE_MESSAGES messages 400 days old, measures /send alone,
then runs beat's purge (services/privacy.purge_expired, in its production batches) while /send is
loaded again. Prints the purge's rows per second and /send's p50/p99 with and without it."""
from __future__ import annotations

import os
import time

from tests.benchmarks.bench_send import CONNECTIONS, _empty_queues, _users
from tests.benchmarks.harness import Background, emit, gunicorn, load

BENCH = "privacy"
MESSAGES = int(os.environ.get("BENCH_PURGE_MESSAGES", "1000000"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))


def _fill(count: int) -> None:
    from sqlalchemy import text

    from core.db import db
    from core.settings import get_settings

    session_name = get_settings().session_name
    for start in range(0, count, 100_000):
        db.execute(text("""
            INSERT INTO messages (id, session, direction, status, phone_number, chat_id, body, from_me,
                                  is_group_msg, attempts, created_at, sent_at)
            SELECT gen_random_uuid(), :session, 'outgoing', 'SENT', '3933' || lpad((i % 50000)::text, 8, '0'),
                   '3933' || lpad((i % 50000)::text, 8, '0') || '@c.us', 'old message ' || i, true, false, 1,
                   now() - interval '400 days' + i * interval '1 ms', now() - interval '400 days' + i * interval '1 ms'
            FROM generate_series(CAST(:start AS int), CAST(:stop AS int)) i"""), {"session": session_name, "start": start,
                                                       "stop": min(count, start + 100_000) - 1})
        db.commit()
    db.remove()


def _clean() -> None:
    from sqlalchemy import text

    from core.db import db

    db.execute(text("DELETE FROM messages WHERE created_at < now() - interval '300 days'"))
    db.commit()
    db.remove()


def main() -> None:
    from core.db import db
    from core.settings import get_settings
    from services import privacy

    tokens = _users()
    _clean()
    started = time.monotonic()
    _fill(MESSAGES)
    emit(BENCH, "fill_seconds", round(time.monotonic() - started, 1), None, None, messages=MESSAGES)
    body = {"phoneNumber": "3331234567", "message": "benchmark message"}
    token = tokens["PROFESSIONAL"]
    settings = get_settings()
    try:
        with gunicorn("web:create_app()") as url:
            target = url + "/api/whatsapp/send"
            alone = load(target, body, token, connections=CONNECTIONS, seconds=SECONDS)

            def purge():
                report, begun = privacy.PurgeReport(), time.monotonic()
                while True:  # beat's runs back to back, each in its production batches
                    run = privacy.purge_expired(db, settings, budget_seconds=60)
                    report.messages_blanked += run.messages_blanked
                    if run.finished:
                        db.remove()
                        return report.messages_blanked, time.monotonic() - begun

            worker = Background(purge)
            worker.start()
            during = []
            while worker.is_alive():
                during.append(load(target, body, token, connections=CONNECTIONS, seconds=SECONDS, warmup=0))
            blanked, seconds = worker.join()
    finally:
        _empty_queues()
        _clean()
    p99s = sorted(run["p99_ms"] for run in during) or [0.0]
    emit(BENCH, "purge_rows_per_second", round(blanked / seconds), None, None, messages=blanked,
         seconds=round(seconds, 1))
    emit(BENCH, "send_p99_ms_alone", round(alone["p99_ms"], 1), None, None, rps=round(alone["rps"]))
    emit(BENCH, "send_p99_ms_during_purge", round(p99s[len(p99s) // 2], 1), None, None,
         worst=round(p99s[-1], 1), rps=round(sum(r["rps"] for r in during) / max(1, len(during))),
         errors=sum(r["errors"] for r in during), rounds=len(during))
