"""Strings PostgreSQL cannot store: a NUL character (text columns refuse it) and a lone UTF-16
surrogate (JSON can carry `"\\ud800"`, UTF-8 cannot encode it). Input holding one is refused as
bad input where it is parsed (web.api.blueprint), instead of failing as a 500 at the database."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NOT_STORABLE = "contains a NUL character or a lone surrogate, which cannot be stored"


def is_storable(text: str) -> bool:
    if "\x00" in text:
        return False
    if text.isascii():  # the common case, and a fast one
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # only a surrogate has no UTF-8 form
        return False
    return True


def unstorable_strings(data: Any) -> dict:
    """The places in `data` (parsed JSON, or a query string's multi-dict) holding a string that
    cannot be stored, as marshmallow shapes its errors: `{"name": [msg], "tags": {2: [msg]}}`."""
    errors: dict = {}
    if isinstance(data, Mapping):
        getlist = getattr(data, "getlist", None)  # a query string: every value of a repeated key
        items = ((key, value) for key in data for value in (getlist(key) if getlist else [data[key]]))
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return errors
    for key, value in items:
        if isinstance(key, str) and not is_storable(key):
            errors["_schema"] = [f"a key {NOT_STORABLE}"]
        if isinstance(value, str):
            if not is_storable(value):
                errors[key if is_storable(str(key)) else "_schema"] = [NOT_STORABLE]
        elif inner := unstorable_strings(value):
            errors[key if is_storable(str(key)) else "_schema"] = inner
    return errors
