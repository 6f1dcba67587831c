"""Issue 16's benchmark: the server time of every admin panel page on 1,000,000 messages (and
100,000 contacts, 200 schedules of 20 runs).

    python -m tests.benchmarks bench_panel      (or `make bench` for every benchmark)

The same seeded database as bench_validation (`<bench database>_stats`, BENCH_STATS_REUSE=1 reuses
it), the whole app in-process through the Flask test client with a logged-in panel session
(cookie, role check, session resolution, queries, Jinja). Target: p95 <= 300 ms for every page.
BENCH_PANEL_PAGES=monitoring (comma-separated words) times only the pages whose path holds one.
"""
from __future__ import annotations

import os
import re
import uuid

from sqlalchemy import text

from tests.benchmarks.bench_validation import MESSAGES, REQUESTS, SESSION, _app_and_token, _stats_database
from tests.benchmarks.harness import emit, get_times_ms, median, percentile, prepare, using_database

BENCH = "panel"
TARGET_MS = 300
ONLY = [word for word in os.environ.get("BENCH_PANEL_PAGES", "").split(",") if word]


CONTENT = """
INSERT INTO contacts (id, phone_number, name, pushname, is_user, is_business, is_favorite, has_whatsapp, created_at,
                      updated_at)
SELECT gen_random_uuid(), '39334' || lpad(g::text, 7, '0'), CASE WHEN g % 3 = 0 THEN 'Cliente ' || g END,
       'Persona ' || g, true, false, g % 100 = 0, true, now() - g * interval '1 minute', now()
FROM generate_series(1, 100000) g;
INSERT INTO scheduled_messages (id, session, recipients, body, variables, send_at, cron, timezone, run_count,
                                next_run_at, status, created_at, updated_at)
SELECT gen_random_uuid(), :session, jsonb_build_array('39334' || lpad(g::text, 7, '0')), 'promemoria ' || g, '{}',
       CASE WHEN g % 2 = 0 THEN now() + g * interval '1 hour' END, CASE WHEN g % 2 = 1 THEN '0 9 * * 1' END,
       'Europe/Rome', 20, now() + g * interval '1 hour', 'ACTIVE', now() - g * interval '1 minute', now()
FROM generate_series(1, 200) g;
INSERT INTO scheduled_runs (scheduled_message_id, due_at, ran_at, outcome, message_id)
SELECT s.id, now() - n * interval '7 days', now() - n * interval '7 days', 'SENT',
       (SELECT id FROM messages WHERE session = :session ORDER BY created_at DESC OFFSET n LIMIT 1)
FROM scheduled_messages s, generate_series(1, 20) n;
ANALYZE contacts; ANALYZE scheduled_messages; ANALYZE scheduled_runs;
"""


def _seed_content() -> None:
    """The templates, contacts and scheduled pages' rows (once per seeded database): 100,000
    contacts, 200 schedules of 20 past runs each (their messages among the seeded ones)."""
    from core.db import db

    if not db.execute(text("SELECT count(*) FROM contacts")).scalar():
        for statement in CONTENT.replace(":session", f"'{SESSION}'").split(";"):
            if statement.strip():
                db.execute(text(statement))
        db.commit()
    db.remove()


def _logged_in_client(app):
    from core.db import db
    from models import User
    from models.enums import Role
    from services.passwords import hash_password

    user = User(email=f"panel-{uuid.uuid4().hex[:6]}@example.com", password_hash=hash_password("bench password"),
                role=Role.SUPER_ADMIN.value)
    db.add(user)
    db.commit()
    phone = db.execute(text("SELECT phone_number FROM messages WHERE session = :s ORDER BY created_at DESC LIMIT 1"),
                       {"s": SESSION}).scalar()
    db.remove()
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/admin/login").get_data(as_text=True)).group(1)
    response = client.post("/admin/login", data={"email": user.email, "password": "bench password", "csrf_token": token})
    assert response.status_code == 302, response.status_code
    return client, phone


def main() -> None:
    prepare()
    with using_database(_stats_database()):
        _measure()


def _measure() -> None:
    app, _headers = _app_and_token()
    _seed_content()
    client, phone = _logged_in_client(app)
    fragment = {"X-Panel-Fragment": "1"}
    from core.db import db

    template = db.execute(text("SELECT id FROM templates ORDER BY name LIMIT 1")).scalar()
    schedule = db.execute(text("SELECT id FROM scheduled_messages WHERE cron IS NOT NULL LIMIT 1")).scalar()
    db.remove()
    for path, headers in ((f"/admin/connection?session={SESSION}", None),
                          (f"/admin/connection/state?session={SESSION}", fragment),
                          (f"/admin/send?session={SESSION}", None),
                          (f"/admin/messages?session={SESSION}", None),
                          (f"/admin/messages?session={SESSION}&q=prova", None),
                          (f"/admin/messages?session={SESSION}&q=nowhere", None),
                          (f"/admin/messages?session={SESSION}&q={phone}", None),
                          (f"/admin/messages/{phone}?session={SESSION}", None),
                          (f"/admin/messages/{phone}/chat?session={SESSION}", fragment),
                          (f"/admin/monitoring?session={SESSION}", None),
                          (f"/admin/monitoring/figures?session={SESSION}&days=30", fragment),
                          (f"/admin/monitoring?session={SESSION}&days=90", None),
                          ("/admin/users", None), ("/admin/tokens", None), ("/admin/audit", None),
                          (f"/admin/errors?session={SESSION}", None),
                          ("/admin/templates", None),
                          ("/admin/templates?q=bench", None),
                          (f"/admin/templates/{template}", None),
                          (f"/admin/contacts?session={SESSION}", None),
                          (f"/admin/contacts?session={SESSION}&q=cliente 99", None),
                          (f"/admin/contacts?session={SESSION}&q=3340000", None),
                          (f"/admin/contacts?session={SESSION}&favorite=true", None),
                          (f"/admin/scheduled?session={SESSION}", None),
                          (f"/admin/scheduled/{schedule}", None),
                          (f"/admin/scheduled/{schedule}/runs", fragment)):
        if ONLY and not any(word in path for word in ONLY):
            continue
        times = get_times_ms(client, path, headers, REQUESTS)
        p95 = percentile(times, 95)
        shown = path.replace(phone, "<number>").replace(str(template), "<id>").replace(str(schedule), "<id>")
        emit(BENCH, f"p95_ms {shown}", p95, target=f"<= {TARGET_MS} ms",
             ok=p95 <= TARGET_MS, p50_ms=round(median(times), 1), messages=MESSAGES)
