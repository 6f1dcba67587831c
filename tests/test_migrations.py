"""The Alembic history builds the schema from nothing, matches the models, and tears down cleanly."""
from sqlalchemy import create_engine, inspect, text

import models
from tests.fixtures.db import run_alembic


def test_upgrade_head_then_downgrade_base_on_an_empty_database(scratch_database_url):
    run_alembic(scratch_database_url, "upgrade", "head")
    engine = create_engine(scratch_database_url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert set(models.Base.metadata.tables) <= tables
        message_indexes = {ix["name"] for ix in inspect(engine).get_indexes("messages")}
        assert {"ix_messages_phone_created", "ix_messages_outbox", "ix_messages_body_trgm"} <= message_indexes

        run_alembic(scratch_database_url, "check")  # raises if the models drifted from the migrations

        run_alembic(scratch_database_url, "downgrade", "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    finally:
        engine.dispose()


def test_0005_rebuilds_the_running_counts_per_session_and_back(scratch_database_url):
    run_alembic(scratch_database_url, "upgrade", "0004")
    engine = create_engine(scratch_database_url)
    counts = "SELECT {key}, sum(count) FROM message_counts GROUP BY {key} ORDER BY {key}"
    try:
        with engine.begin() as conn:
            for session, status in (("assistenza", "SENT"), ("assistenza", "SENT"), ("marketing", "SENT"),
                                    ("marketing", "FAILED")):
                conn.execute(text(
                    "INSERT INTO messages (id, session, direction, status, phone_number, chat_id, from_me, "
                    "is_group_msg, attempts, created_at) VALUES (gen_random_uuid(), :session, 'outgoing', "
                    ":status, '393331234567', '393331234567@c.us', true, false, 1, now())"),
                    {"session": session, "status": status})
        run_alembic(scratch_database_url, "upgrade", "head")
        with engine.begin() as conn:
            assert conn.execute(text(counts.format(key="session, status"))).all() == [
                ("assistenza", "SENT", 2), ("marketing", "FAILED", 1), ("marketing", "SENT", 1)]
            conn.execute(text("UPDATE messages SET status = 'READ' WHERE session = 'marketing' AND status = 'SENT'"))
            assert conn.execute(text(counts.format(key="session, status"))).all() == [
                ("assistenza", "SENT", 2), ("marketing", "FAILED", 1), ("marketing", "READ", 1),
                ("marketing", "SENT", 0)]
        run_alembic(scratch_database_url, "downgrade", "0004")
        with engine.begin() as conn:
            assert conn.execute(text(counts.format(key="status"))).all() == [("FAILED", 1), ("READ", 1),
                                                                              ("SENT", 2)]
    finally:
        engine.dispose()
