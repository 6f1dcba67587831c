"""Issue 5's benchmark: validate-batch of 10,000 numbers through the API next to a bare phonenumbers
loop doing the same work, and /stats and /detailed-stats p95 on 1,000,000 seeded messages.

    python -m tests.benchmarks bench_validation      (or `make bench` for every benchmark)

The API runs in-process through the Flask test client (the whole request: JWT, role check, schema,
audit row, commit, JSON), without an HTTP socket. The messages are seeded with one
INSERT ... SELECT generate_series into a dedicated database, `<bench database>_stats`, spread over
365 days in time order (as a real outbox grows), all in one WhatsApp session (SESSION), which the
statistics routes are asked for (`?session=`). Targets: the endpoint within 1.5x of the bare loop;
p95 <= 100 ms for /stats and /detailed-stats (default window, 7 days). The triggers on `messages` fill
the statistics rollups (migrations 0003 and 0004) during the seed.

BENCH_STATS_REUSE=1 keeps an already seeded `<bench database>_stats` holding BENCH_STATS_MESSAGES
messages and only runs `alembic upgrade head` on it (a new migration backfills its rollups there).
"""
from __future__ import annotations

import os
import random
import time
import uuid

from tests.benchmarks.harness import emit, get_times_ms, median, percentile, prepare, using_database

BENCH = "validation"
MESSAGES = int(os.environ.get("BENCH_STATS_MESSAGES", "1000000"))
REUSE = os.environ.get("BENCH_STATS_REUSE") == "1"
REQUESTS = int(os.environ.get("BENCH_STATS_REQUESTS", "40"))
SESSION = "bench"  # every seeded message's WhatsApp session: the figures are one session's, the worst case
FORMATS = ["333 {a} {b}", "+39 333 {a}{b}", "0039 333.{a}.{b}", "(333) {a}-{b}", "06 {a} {b}", "+44 20 7946 {b}",
           "+1 415 555 {b}", "+49 30 {a}{b}", "not a number", "3{a}"]

SEED = """
INSERT INTO templates (id, name, category, content, variables, is_active, usage_count, tags)
SELECT gen_random_uuid(), 'bench template ' || g, 'notification', 'Ciao {{name}}', '[]'::jsonb, true, 0, '{}'
FROM generate_series(1, 20) g;
INSERT INTO messages (id, session, direction, status, phone_number, chat_id, body, from_me, is_group_msg,
                      attempts, created_at, sent_at, delivered_at, read_at, failed_at, error_type, template_id)
SELECT gen_random_uuid(), :session, s.direction, s.status, s.phone, s.phone || '@c.us', 'messaggio di prova',
       s.direction = 'outgoing', false, 1, s.t,
       CASE WHEN s.status IN ('SENT', 'DELIVERED', 'READ') THEN s.t + s.r3 * interval '5 seconds' END,
       CASE WHEN s.status IN ('DELIVERED', 'READ') THEN s.t + s.r3 * interval '65 seconds' END,
       CASE WHEN s.status = 'READ' THEN s.t + s.r3 * interval '600 seconds' END,
       CASE WHEN s.status = 'FAILED' THEN s.t + interval '2 seconds' END,
       CASE WHEN s.status = 'FAILED' THEN
           (ARRAY['NOT_WHATSAPP', 'RATE_LIMIT', 'BLOCKED', 'CONNECTION_ERROR'])[1 + s.g % 4] END,
       CASE WHEN s.direction = 'outgoing' AND s.g % 10 = 0 THEN (SELECT array_agg(id) FROM templates)[1 + s.g % 20] END
FROM (
    SELECT g, r3, t, phone, direction,
           CASE WHEN direction = 'incoming' THEN (CASE WHEN r2 < 0.5 THEN 'READ' ELSE 'DELIVERED' END)
                WHEN r2 < 0.45 THEN 'READ' WHEN r2 < 0.70 THEN 'DELIVERED' WHEN r2 < 0.90 THEN 'SENT'
                WHEN r2 < 0.97 THEN 'FAILED' WHEN r2 < 0.99 THEN 'QUEUED' ELSE 'SENDING' END AS status
    FROM (SELECT g, random() AS r2, random() AS r3, now() - random() * interval '365 days' AS t,
                 '39333' || lpad((random() * 9999)::int::text, 7, '0') AS phone,
                 CASE WHEN random() < 0.2 THEN 'incoming' ELSE 'outgoing' END AS direction
          FROM generate_series(1, :n) g) r
) s ORDER BY s.t
"""


def _stats_database() -> str:
    """Build `<bench db>_stats` from the migrations and seed it; returns its URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    from tests.fixtures.db import recreate_database, run_alembic

    url = make_url(os.environ["DATABASE_URL"])
    url = url.set(database=f"{url.database}_stats").render_as_string(hide_password=False)
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    if REUSE and _seeded(plain):
        started = time.perf_counter()
        run_alembic(url, "upgrade", "head")
        emit(BENCH, "reuse_upgrade_seconds", time.perf_counter() - started, messages=MESSAGES)
        return url
    recreate_database(url)
    run_alembic(url, "upgrade", "head")
    started = time.perf_counter()
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute("DROP INDEX ix_messages_body_trgm")  # rebuilt once below: faster than row by row
        conn.execute(SEED.replace(":n", str(int(MESSAGES))).replace(":session", f"'{SESSION}'"))
        conn.execute("CREATE INDEX ix_messages_body_trgm ON messages USING gin (body gin_trgm_ops)")
        conn.execute("VACUUM ANALYZE")
    emit(BENCH, "seed_seconds", time.perf_counter() - started, messages=MESSAGES)
    return url


def _seeded(plain_url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(plain_url, autocommit=True) as conn:
            return conn.execute("SELECT count(*) FROM messages").fetchone()[0] == MESSAGES
    except psycopg.Error:
        return False


def _app_and_token():
    """The application and an ADMIN's header, in the database in use (harness.using_database)."""
    from flask_jwt_extended import create_access_token
    from sqlalchemy.dialects.postgresql import insert

    from core.db import db
    from models import User, WaSession
    from models.enums import Role
    from web import create_app

    app = create_app()
    user = User(email=f"bench-{uuid.uuid4().hex[:6]}@example.com", password_hash="x", role=Role.ADMIN.value)
    db.add(user)
    # the routes take ?session=: its row must exist in this database (the default session's is
    # created through the application's own engine, which points at the bench database, not this one)
    db.execute(insert(WaSession).values(name=SESSION, active=True).on_conflict_do_nothing(index_elements=["name"]))
    db.commit()
    with app.app_context():
        token = create_access_token(f"user:{user.id}", additional_claims={"role": user.role})
    db.remove()
    return app, {"Authorization": f"Bearer {token}"}


def _numbers(count: int) -> list[str]:
    rng = random.Random(5)
    return [rng.choice(FORMATS).format(a=rng.randrange(100, 999), b=rng.randrange(1000, 9999)) for _ in range(count)]


def _bare(numbers: list[str]) -> list[dict]:
    """The same phonenumbers work as the endpoint, with nothing around it: the endpoint answers a
    repeated input from its first answer, so this loop does too."""
    import phonenumbers
    from phonenumbers import PhoneNumberFormat

    def one(raw: str) -> dict:
        try:
            number = phonenumbers.parse(raw, "IT")
        except phonenumbers.NumberParseException:
            return {"isValid": False}
        if not phonenumbers.is_valid_number(number):
            phonenumbers.is_possible_number_with_reason(number)
            return {"isValid": False}
        return {"isValid": True, "e164": phonenumbers.format_number(number, PhoneNumberFormat.E164),
                "display": phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
                "country": phonenumbers.region_code_for_number(number),
                "type": phonenumbers.number_type(number)}

    memo: dict[str, dict] = {}
    out = []
    for raw in numbers:
        if raw not in memo:
            memo[raw] = one(raw)
        out.append(memo[raw])
    return out


def bench_batch(app, headers) -> None:
    numbers = _numbers(10_000)
    emit(BENCH, "batch_distinct_inputs", len(set(numbers)), inputs=len(numbers))
    client = app.test_client()
    bare, api = [], []
    for _ in range(5):  # interleaved, so both see the same machine load
        started = time.perf_counter()
        _bare(numbers)
        bare.append(time.perf_counter() - started)
        started = time.perf_counter()
        response = client.post(f"/api/whatsapp/validate-batch?session={SESSION}", json={"numbers": numbers}, headers=headers)
        api.append(time.perf_counter() - started)
        assert response.status_code == 200, response.json
    ratio = median(api) / median(bare)
    emit(BENCH, "bare_loop_10k_ms", median(bare) * 1000)
    emit(BENCH, "validate_batch_10k_ms", median(api) * 1000, client="flask test client")
    emit(BENCH, "validate_batch_vs_bare", ratio, target="<= 1.5", ok=ratio <= 1.5)


def bench_stats(app, headers) -> None:
    client = app.test_client()
    for path, target in ((f"/api/whatsapp/stats?session={SESSION}", 100),
                         (f"/api/whatsapp/detailed-stats?session={SESSION}", 100),
                         (f"/api/whatsapp/detailed-stats?days=30&session={SESSION}", None),
                         (f"/api/whatsapp/detailed-stats?days=90&session={SESSION}", None)):
        times = get_times_ms(client, path, headers, REQUESTS)
        p95 = percentile(times, 95)
        emit(BENCH, f"p95_ms {path}", p95, target=f"<= {target} ms" if target else None,
             ok=p95 <= target if target else None, p50_ms=round(median(times), 1), messages=MESSAGES)


def main() -> None:
    prepare()
    with using_database(_stats_database()):
        app, headers = _app_and_token()
        bench_batch(app, headers)
        bench_stats(app, headers)


if __name__ == "__main__":
    main()
