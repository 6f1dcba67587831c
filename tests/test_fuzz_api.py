"""Schemathesis generates requests from /api/openapi.json and sends them to the real app (real
PostgreSQL, real Redis), as an ADMIN and as a PROFESSIONAL: no answer is a 500, and every answer has
a documented status code, content type and schema."""
from __future__ import annotations

from dataclasses import replace

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from core.settings import get_settings
from web import create_app

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]
FUZZ = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))

# Built at collection: `schema.parametrize()` needs the document to make one test per operation
# (schemathesis' fixture-based loader, `schemathesis.pytest.from_fixture`, fails on pytest 9.2).
# Building the app opens no connection. Rate limits are out of the way: thousands of requests from
# one caller are the point. The event stream ends after a second, so reading its whole body ends.
APP = create_app(replace(get_settings(), rate_limit_default="1000000/minute",
                         rate_limit_login="1000000/minute", events_stream_seconds=1))  # the stream ends
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", APP)


def call_and_check(case, headers: dict[str, str]) -> None:
    response = case.call(headers=headers)
    checks = CHECKS
    if str(response.status_code) in case.operation.responses.status_codes and response.status_code >= 500:
        # a 5xx the operation documents by its own code (503: no worker serves the session) is an
        # answer, not a crash; its body and content type are still checked
        checks = [check for check in CHECKS if check is not not_a_server_error]
    case.validate_response(response, checks=checks)


@pytest.mark.slow
@schema.parametrize()
@FUZZ
def test_an_admin_gets_a_documented_answer_to_every_generated_request(case, db_session, admin):
    call_and_check(case, admin)


@pytest.mark.slow
@schema.parametrize()
@FUZZ
def test_a_professional_gets_a_documented_answer_to_every_generated_request(case, db_session, pro):
    call_and_check(case, pro)
