"""Keyset (cursor) pagination, newest first: no OFFSET scans, stable while rows are added."""
from __future__ import annotations

import base64
from datetime import datetime

from sqlalchemy import Select, and_, or_

from core.errors import GatewayError


def encode_cursor(at: datetime, row_id) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{row_id}".encode()).decode().rstrip("=")


def _bad_cursor() -> GatewayError:
    """A query parameter with a bad value, like any other: 422 naming it."""
    return GatewayError(422, "cursor is not valid: pass the nextCursor of a previous page",
                        details={"query": {"cursor": ["not a nextCursor of this list"]}})


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, row_id = raw.partition("|")
        return datetime.fromisoformat(at), row_id
    except (ValueError, UnicodeDecodeError):
        raise _bad_cursor() from None


def page(query: Select, time_column, id_column, limit: int, cursor: str | None, session):
    """Rows of `query` newest first after `cursor`, and the cursor of the next page (or None)."""
    if cursor:
        at, raw_id = decode_cursor(cursor)
        try:
            row_id = id_column.type.python_type(raw_id)
        except ValueError:
            raise _bad_cursor() from None
        query = query.where(or_(time_column < at, and_(time_column == at, id_column < row_id)))
    rows = list(session.scalars(query.order_by(time_column.desc(), id_column.desc()).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(getattr(last, time_column.key), getattr(last, id_column.key))
    return rows, next_cursor


def contains_pattern(text: str) -> str:
    """An ILIKE pattern matching `text` anywhere, with the user's %, _ and \\ taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
