"""The Alembic history builds the schema from nothing, matches the models, and tears down cleanly."""
import importlib.util
from dataclasses import fields

import pytest
from sqlalchemy import create_engine, inspect, text

import models
from core.settings import ROOT, Settings
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


def test_0007_rebuilds_the_statistics_rollups_per_session_and_back(scratch_database_url):
    run_alembic(scratch_database_url, "upgrade", "0006")
    engine = create_engine(scratch_database_url)
    hourly = "SELECT {key}, sum(count) FROM message_hourly_counts GROUP BY {key} HAVING sum(count) <> 0 ORDER BY {key}"
    phones = "SELECT {key}, sum(count) FROM message_daily_phones GROUP BY {key} HAVING sum(count) <> 0 ORDER BY {key}"
    latency = "SELECT {key}, sum(count) FROM message_latency_daily GROUP BY {key} HAVING sum(count) <> 0 ORDER BY {key}"
    try:
        with engine.begin() as conn:
            for session, status, phone in (("assistenza", "SENT", "393331111111"), ("assistenza", "SENT", "393331111111"),
                                           ("marketing", "SENT", "393331111111"), ("marketing", "FAILED", "393332222222")):
                conn.execute(text(
                    "INSERT INTO messages (id, session, direction, status, phone_number, chat_id, from_me, "
                    "is_group_msg, attempts, created_at, sent_at) VALUES (gen_random_uuid(), :session, 'outgoing', "
                    ":status, :phone, :chat, true, false, 1, now(), "
                    "now() + CAST(:sent_after AS interval))"),
                    {"session": session, "status": status, "phone": phone, "chat": f"{phone}@c.us",
                     "sent_after": "2 seconds" if status == "SENT" else None})
            function = "SELECT prosrc FROM pg_proc WHERE proname = 'message_rollups_apply'"
            before = conn.execute(text(function)).scalar_one()
        run_alembic(scratch_database_url, "upgrade", "head")
        with engine.begin() as conn:  # rebuilt from the messages, per session
            assert conn.execute(text(hourly.format(key="session, status"))).all() == [
                ("assistenza", "SENT", 2), ("marketing", "FAILED", 1), ("marketing", "SENT", 1)]
            assert conn.execute(text(phones.format(key="session, phone_number"))).all() == [
                ("assistenza", "393331111111", 2), ("marketing", "393331111111", 1), ("marketing", "393332222222", 1)]
            assert conn.execute(text(latency.format(key="session, kind"))).all() == [
                ("assistenza", "sent", 2), ("marketing", "sent", 1)]
            # and kept per session by the new triggers
            conn.execute(text("UPDATE messages SET status = 'FAILED', sent_at = NULL WHERE session = 'marketing'"))
            conn.execute(text("DELETE FROM messages WHERE session = 'assistenza' AND ctid IN "
                              "(SELECT ctid FROM messages WHERE session = 'assistenza' LIMIT 1)"))
            assert conn.execute(text(hourly.format(key="session, status"))).all() == [
                ("assistenza", "SENT", 1), ("marketing", "FAILED", 2)]
            assert conn.execute(text(latency.format(key="session, kind"))).all() == [("assistenza", "sent", 1)]
            indexes = {ix["name"] for ix in inspect(conn).get_indexes("messages")}
            assert "ix_messages_session_created_id" in indexes
        run_alembic(scratch_database_url, "downgrade", "0006")
        with engine.begin() as conn:  # back to 0004's keys, rebuilt, and kept by 0004's triggers
            assert conn.execute(text(function)).scalar_one() == before
            assert conn.execute(text(hourly.format(key="status"))).all() == [("FAILED", 2), ("SENT", 1)]
            assert conn.execute(text(phones.format(key="phone_number"))).all() == [
                ("393331111111", 2), ("393332222222", 1)]
            conn.execute(text("UPDATE messages SET status = 'READ' WHERE status = 'SENT'"))
            assert conn.execute(text(hourly.format(key="status"))).all() == [("FAILED", 2), ("READ", 1)]
            assert conn.execute(text(latency.format(key="kind"))).all() == [("sent", 1)]
            assert "session" not in {c["name"] for c in inspect(conn).get_columns("message_hourly_counts")}
    finally:
        engine.dispose()


def test_0008_keys_the_error_counters_by_session_and_back(scratch_database_url, monkeypatch):
    run_alembic(scratch_database_url, "upgrade", "0007")
    engine = create_engine(scratch_database_url)
    rows = "SELECT {key}, count, last_message FROM error_counters ORDER BY {key}"
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO error_counters (error_type, count, since, last_at, last_message) VALUES "
                              "('BLOCKED', 3, now() - interval '2 hours', now() - interval '1 hour', 'old'), "
                              "('RATE_LIMIT', 1, now(), now(), 'slow down')"))
        monkeypatch.setenv("SESSION_NAME", "support")  # counters from before are the default session's
        run_alembic(scratch_database_url, "upgrade", "head")
        with engine.begin() as conn:
            assert conn.execute(text(rows.format(key="session, error_type"))).all() == [
                ("support", "BLOCKED", 3, "old"), ("support", "RATE_LIMIT", 1, "slow down")]
            conn.execute(text("INSERT INTO error_counters (session, error_type, count, since, last_at, last_message) "
                              "VALUES ('marketing', 'BLOCKED', 2, now() - interval '3 hours', now(), 'new')"))
        run_alembic(scratch_database_url, "downgrade", "0007")
        with engine.begin() as conn:  # added back together: the latest failure's message, the earliest reset
            assert conn.execute(text(rows.format(key="error_type"))).all() == [
                ("BLOCKED", 5, "new"), ("RATE_LIMIT", 1, "slow down")]
            assert conn.execute(text("SELECT since < now() - interval '150 minutes' FROM error_counters "
                                     "WHERE error_type = 'BLOCKED'")).scalar() is True
            assert [c["name"] for c in inspect(engine).get_columns("error_counters")][0] == "error_type"

        monkeypatch.setenv("SESSION_NAME", "Not a name")
        with pytest.raises(RuntimeError, match="not a session name"):
            run_alembic(scratch_database_url, "upgrade", "head")
    finally:
        engine.dispose()


def test_0008_defaults_to_the_same_session_name_as_the_settings():
    spec = importlib.util.spec_from_file_location(
        "migration_0008", ROOT / "migrations" / "versions" / "0008_error_counters_per_session.py")
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert migration.DEFAULT_SESSION_NAME == {f.name: f.default for f in fields(Settings)}["session_name"]
