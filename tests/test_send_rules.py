"""The send rules on their own (services/send_rules.py): classification, backoff, maximum age."""
import random
from datetime import datetime, timedelta, timezone

import pytest

from core.settings import load_settings
from models.enums import ErrorType
from services import send_rules

SETTINGS = load_settings({}, retry_base_seconds=5, retry_max_seconds=600, send_max_attempts=5,
                         send_max_age_minutes=60)
T0 = datetime(2026, 5, 4, 9, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("code, expected", [
    ("chat_not_found", ErrorType.NOT_WHATSAPP), ("wid_not_found", ErrorType.NOT_WHATSAPP),
    ("invalid_wid", ErrorType.INVALID_NUMBER), ("rate_overlimit", ErrorType.RATE_LIMIT),
    ("blocked", ErrorType.BLOCKED), ("not_ready", ErrorType.CONNECTION_ERROR),
    ("TypeError", ErrorType.UNKNOWN),
])
def test_wa_js_codes_map_to_our_error_types(code, expected):
    assert send_rules.classify(code) == expected


def test_an_unknown_code_takes_the_callers_default():
    assert send_rules.classify("Error", default=ErrorType.INVALID_NUMBER) == ErrorType.INVALID_NUMBER


def test_only_errors_a_retry_cannot_fix_are_permanent():
    permanent = {t for t in ErrorType if send_rules.is_permanent(t)}
    assert permanent == {ErrorType.NOT_WHATSAPP, ErrorType.INVALID_NUMBER, ErrorType.BLOCKED}


def test_backoff_doubles_from_the_base_and_stops_at_the_maximum():
    assert [send_rules.backoff_seconds(n, SETTINGS) for n in range(1, 10)] == [
        5, 10, 20, 40, 80, 160, 320, 600, 600]


def test_the_retry_delay_is_the_backoff_within_20_percent_and_not_always_the_same():
    delays = [send_rules.retry_delay(3, SETTINGS, random.Random(seed)) for seed in range(50)]
    assert all(16 <= d <= 24 for d in delays)
    assert len({round(d, 3) for d in delays}) > 40


def test_a_message_older_than_the_maximum_age_is_too_old():
    assert not send_rules.too_old(T0 - timedelta(minutes=59), SETTINGS, at=T0)
    assert send_rules.too_old(T0 - timedelta(minutes=61), SETTINGS, at=T0)


@pytest.mark.parametrize("error_type, attempts, age_minutes, gives_up", [
    (ErrorType.RATE_LIMIT, 1, 0, False),
    (ErrorType.UNKNOWN, 4, 0, False),
    (ErrorType.RATE_LIMIT, 5, 0, True),      # attempts used up
    (ErrorType.RATE_LIMIT, 1, 61, True),     # too old
    (ErrorType.NOT_WHATSAPP, 1, 0, True),    # permanent at the first try
    (ErrorType.BLOCKED, 1, 0, True),
])
def test_when_a_failed_send_is_given_up(error_type, attempts, age_minutes, gives_up):
    created = T0 - timedelta(minutes=age_minutes)
    assert send_rules.gives_up(error_type, attempts, created, SETTINGS, at=T0) is gives_up


def test_only_short_waits_ride_on_the_broker():
    assert send_rules.fits_on_broker(None) and send_rules.fits_on_broker(0)
    assert send_rules.fits_on_broker(send_rules.MAX_BROKER_DELAY_SECONDS)
    assert not send_rules.fits_on_broker(send_rules.MAX_BROKER_DELAY_SECONDS + 0.1)
    # the waits the worker itself puts on the broker are short enough
    assert send_rules.WAIT_FOR_CONNECTION_SECONDS <= send_rules.MAX_BROKER_DELAY_SECONDS
    assert send_rules.RECONCILE_AFTER_SECONDS <= send_rules.MAX_BROKER_DELAY_SECONDS
