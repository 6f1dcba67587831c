"""The Alembic history builds the schema from nothing, matches the models, and tears down cleanly."""
from sqlalchemy import create_engine, inspect

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
