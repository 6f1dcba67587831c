"""The `Idempotency-Key` header on POST endpoints that create work (see services/idempotency.py)."""
from __future__ import annotations

import hashlib
from functools import wraps

from flask import g, jsonify, request

from core.db import db
from services import idempotency
from web.auth import current_principal

HEADER = "Idempotency-Key"


def _body():
    """What the request asked, for its fingerprint: the JSON body, or a multipart body's fields and
    the SHA-256 of each file (read through once, then rewound for the view)."""
    if request.mimetype != "multipart/form-data":
        return request.get_json(silent=True)
    files = {}
    for name, upload in request.files.items(multi=True):
        digest = hashlib.sha256()
        while piece := upload.stream.read(1024 * 1024):
            digest.update(piece)
        upload.stream.seek(0)
        files.setdefault(name, []).append(digest.hexdigest())
    return {"form": request.form.to_dict(flat=False), "files": files}


def idempotent(view):
    """Place between `@blp.arguments` and `@blp.response`: it sees the final response to store."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        scope = current_principal().id
        # the session the request acts on (web.session_scope) is part of what was asked
        target = f"{request.path}@{g.get('wa_session')}"
        fingerprint = idempotency.request_fingerprint(request.method, target, _body())
        replay = idempotency.claim(scope, key, fingerprint)
        if replay is not None:
            response = jsonify(replay.body)
            response.status_code = replay.status
            response.headers["Idempotent-Replayed"] = "true"
            return response
        try:
            response = view(*args, **kwargs)
            if response.status_code < 400:
                idempotency.complete(db, scope, key, response.status_code, response.get_json())
                return response
        except BaseException:
            idempotency.release(scope, key)
            raise
        idempotency.release(scope, key)
        return response

    return wrapper
