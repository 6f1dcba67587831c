"""One read-only settings object, built once from defaults plus environment variables.

Every variable is listed in README.md with its default. A bad value fails loudly at start-up,
never later in a request.
"""
from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import os
import re
import sys
from dataclasses import dataclass, fields
from functools import lru_cache
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JWT_SECRET = "dev-only-change-me"


# A WhatsApp session's name goes into queue names (`wa.<name>`), Redis keys (`wa:<name>:...`) and the
# profile directory (`TOKENS_DIR/<name>/`): nothing that could mean something in any of them.
SESSION_NAME_PATTERN = "^[a-z0-9_-]{1,32}$"  # as JSON Schema and PostgreSQL read it (no trailing newline)
_SESSION_NAME = re.compile(r"[a-z0-9_-]{1,32}")


def is_session_name(text: str) -> bool:
    return _SESSION_NAME.fullmatch(text) is not None  # fullmatch: Python's `$` would let a "\n" through


class SettingsError(RuntimeError):
    """A configuration value is missing or malformed."""


RATE_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@lru_cache(maxsize=32)  # the rate limiter parses its setting on every request
def parse_rate(text: str) -> tuple[int, int]:
    """"1200/minute" -> (1200 requests, 60-second window); units: second, minute, hour, day."""
    count, _, unit = text.strip().partition("/")
    if not count.strip().isdigit() or int(count) < 1 or unit.strip().lower() not in RATE_UNITS:
        raise ValueError(f"{text!r} is not a rate like 1200/minute (units: {', '.join(RATE_UNITS)})")
    return int(count), RATE_UNITS[unit.strip().lower()]


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {raw!r}")


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")  # as the logging module spells them

# A session's worker refreshes its lease this often (worker/monitor.py); the lease outlives a few.
HEARTBEAT_SECONDS = 3


@dataclass(frozen=True)
class Settings:
    # name of the field -> environment variable in upper case (see README)
    environment: str = "development"
    log_level: str = "INFO"
    log_format: str = ""  # json or text; empty: json in production, text elsewhere (README "Logs")
    log_mask_personal_data: bool = True
    database_url: str = "postgresql+psycopg://root@127.0.0.1:5432/wagateway"
    redis_url: str = "redis://127.0.0.1:6379/0"
    jwt_secret: str = DEFAULT_JWT_SECRET
    jwt_access_minutes: int = 15
    jwt_refresh_days: int = 7
    max_body_bytes: int = 1024 * 1024
    rate_limit_default: str = "1200/minute"
    rate_limit_login: str = "10/minute"
    default_country: str = "IT"
    session_name: str = "assistenza"
    headless: bool = True
    whatsapp_url: str = "https://web.whatsapp.com/"
    wa_script_path: str = str(ROOT / "vendor" / "node_modules" / "@wppconnect" / "wa-js" / "dist" / "wppconnect-wa.js")
    tokens_dir: str = str(ROOT / "tokens")
    media_max_bytes: int = 100 * 1024 * 1024
    media_retention_days: int = 30
    media_fetch_timeout_seconds: int = 30
    media_url_allow_hosts: str = ""
    chromium_path: str = "/usr/bin/chromium"
    chromedriver_path: str = "/usr/bin/chromedriver"
    browser_timeout_seconds: int = 60
    browser_memory_limit_mb: int = 1500
    event_pump_busy_ms: int = 50
    send_min_interval_ms: int = 1000
    send_jitter_ms: int = 500
    send_max_per_second: int = 5
    send_max_per_hour: int = 0
    send_max_per_day: int = 0
    send_max_attempts: int = 5
    send_max_age_minutes: int = 24 * 60
    retry_base_seconds: int = 5
    retry_max_seconds: int = 600
    whatsapp_check_ttl_hours: int = 24 * 7
    check_min_interval_ms: int = 3000
    group_read_timeout_seconds: int = 15
    outbox_republish_after_seconds: int = 60
    sweeper_interval_seconds: int = 30
    flower_user: str = "admin"
    flower_password: str = "change-me"
    timezone: str = "Europe/Rome"
    error_reset_time: str = "00:00"
    health_check_seconds: int = 60
    health_stuck_seconds: int = 180
    schedule_dispatch_seconds: int = 15
    schedule_grace_seconds: int = 300
    cleanup_interval_seconds: int = 3600
    qr_max_age_seconds: int = 120
    session_backup_key: str = ""
    session_backup_keep: int = 5
    session_backup_seconds: int = 6 * 3600
    session_lease_seconds: int = 20
    claim_sessions: str = "*"
    message_retention_days: int = 365
    contact_retention_days: int = 365
    opt_out_keywords: str = "STOP,ANNULLA,CANCELLA,DISISCRIVI,UNSUBSCRIBE"
    opt_in_keywords: str = "START,ISCRIVI,SUBSCRIBE"
    events_retention_days: int = 7
    events_stream_seconds: int = 300
    events_heartbeat_seconds: int = 15
    webhook_allow_hosts: str = ""
    webhook_connect_timeout_seconds: int = 5
    webhook_read_timeout_seconds: int = 10
    webhook_retry_hours: int = 24
    webhook_retry_base_ms: int = 5000
    webhook_disable_after_hours: int = 24
    webhook_secret_grace_hours: int = 24
    webhook_sweep_seconds: int = 10
    prefer_wait_max_seconds: int = 30
    prefer_wait_max_requests: int = 60
    metrics_token: str = ""
    alert_error_rate: float = 0.05
    alert_error_min_messages: int = 20
    alert_disconnected_minutes: int = 10
    alert_queue_age_minutes: int = 15
    alert_disk_free_mb: int = 1024
    alert_browser_restarts_per_hour: int = 3
    alert_uptime_percent: float = 95.0
    bulk_new_numbers_warn_percent: int = 50
    prometheus_multiproc_dir: str = ""
    metrics_port: int = 0  # a Celery worker's own metrics exporter (README "Monitoring"); 0: off

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def log_json(self) -> bool:
        """One JSON object per log line (what a log collector parses) rather than text for a terminal."""
        return self.log_format == "json" or (not self.log_format and self.is_production)

    @property
    def whatsapp_queue(self) -> str:
        return f"wa.{self.session_name}"

    @property
    def session_profile_dir(self) -> Path:
        return Path(self.tokens_dir) / self.session_name

    @property
    def backup_key(self) -> bytes | None:
        """The 32-byte AES-256-GCM key of the session backups (None: backups are off)."""
        if not self.session_backup_key:
            return None
        try:
            key = base64.b64decode(self.session_backup_key, validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise ValueError("SESSION_BACKUP_KEY must be the base64 of 32 random bytes (e.g. the output of "
                             "`openssl rand -base64 32`)")
        return key

    def check(self) -> "Settings":
        if self.log_level.upper() not in LOG_LEVELS:
            raise SettingsError(f"LOG_LEVEL={self.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
        if self.log_format not in ("", "json", "text"):
            raise SettingsError(f"LOG_FORMAT={self.log_format!r} is not json or text")
        if self.is_production and self.jwt_secret in ("", DEFAULT_JWT_SECRET):
            raise SettingsError(
                "JWT_SECRET is missing or still the development default: set a long random "
                "JWT_SECRET before running with ENVIRONMENT=production"
            )
        if self.is_production and len(self.jwt_secret) < 32:
            raise SettingsError("JWT_SECRET must be at least 32 characters in production")
        for name in ("rate_limit_default", "rate_limit_login"):
            try:
                parse_rate(getattr(self, name))
            except ValueError as exc:
                raise SettingsError(f"{name.upper()}: {exc}") from None
        if not is_session_name(self.session_name):
            raise SettingsError(f"SESSION_NAME={self.session_name!r} is not a session name: 1 to 32 of "
                                "a-z, 0-9, _ and -")
        if self.is_production and not self.session_backup_key:
            raise SettingsError("SESSION_BACKUP_KEY is missing: set the base64 of 32 random bytes before "
                                "running with ENVIRONMENT=production (session backups are encrypted with it)")
        try:
            self.backup_key
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        if self.session_lease_seconds < 3 * HEARTBEAT_SECONDS:
            raise SettingsError(f"SESSION_LEASE_SECONDS must be at least {3 * HEARTBEAT_SECONDS}: the lease must "
                                f"outlive two missed heartbeats ({HEARTBEAT_SECONDS} s apart)")
        opt_out, opt_in = self.opt_keywords
        if opt_out & opt_in:
            raise SettingsError(f"OPT_OUT_KEYWORDS and OPT_IN_KEYWORDS share {', '.join(sorted(opt_out & opt_in))}")
        if not self.claim_patterns:
            raise SettingsError("CLAIM_SESSIONS must name at least one session or pattern (default *: any)")
        if not 0 < self.alert_error_rate < 1:
            raise SettingsError("ALERT_ERROR_RATE must be a fraction between 0 and 1 (0.05 = 5 %)")
        if self.metrics_token and len(self.metrics_token) < 16:
            raise SettingsError("METRICS_TOKEN must be at least 16 characters (or empty: /metrics off)")
        if self.prometheus_multiproc_dir and not os.path.isdir(self.prometheus_multiproc_dir):
            raise SettingsError(f"PROMETHEUS_MULTIPROC_DIR={self.prometheus_multiproc_dir!r} is not a directory: "
                                "create it (empty) before starting the gateway's processes")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingsError(f"TIMEZONE={self.timezone!r} is not an IANA time zone (e.g. Europe/Rome)") from None
        try:
            self.error_reset_clock
        except ValueError:
            raise SettingsError(f"ERROR_RESET_TIME={self.error_reset_time!r} is not a time HH:MM") from None
        try:
            self.webhook_allowed_networks
        except ValueError as exc:
            raise SettingsError(f"WEBHOOK_ALLOW_HOSTS: {exc}") from None
        try:
            self.media_url_allowed_networks
        except ValueError as exc:
            raise SettingsError(f"MEDIA_URL_ALLOW_HOSTS: {exc}") from None
        for name, (low, high, meaning) in NUMERIC_BOUNDS.items():
            value = getattr(self, name)
            if value < low or (high is not None and value > high):
                bounds = f"at least {low}" if high is None else f"between {low} and {high}"
                raise SettingsError(f"{name.upper()} must be {bounds}{f' ({meaning})' if meaning else ''}")
        return self

    @property
    def media_url_allowed_networks(self) -> tuple:
        """MEDIA_URL_ALLOW_HOSTS as networks: addresses or CIDRs a media URL may reach although they
        are private (an on-premise file server); empty: public addresses only."""
        return tuple(ipaddress.ip_network(item.strip(), strict=False)
                     for item in self.media_url_allow_hosts.split(",") if item.strip())

    @property
    def opt_keywords(self) -> tuple[frozenset[str], frozenset[str]]:
        """(opt-out, opt-in) keywords, upper case: a whole incoming message equal to one opts out or in."""
        def words(raw: str) -> frozenset[str]:
            return frozenset(w.strip().upper() for w in raw.split(",") if w.strip())
        return words(self.opt_out_keywords), words(self.opt_in_keywords)

    @property
    def claim_patterns(self) -> tuple[str, ...]:
        """CLAIM_SESSIONS as shell patterns: the sessions a claiming worker may take."""
        return tuple(p.strip() for p in self.claim_sessions.split(",") if p.strip())

    @property
    def events_keep_days(self) -> int:
        """Days the event log (and its webhook payloads) is kept: never longer than the messages'
        bodies it repeats (MESSAGE_RETENTION_DAYS, when set)."""
        if self.message_retention_days:
            return min(self.events_retention_days, self.message_retention_days)
        return self.events_retention_days

    @property
    def webhook_allowed_networks(self) -> tuple:
        """WEBHOOK_ALLOW_HOSTS as networks: addresses or CIDRs a webhook may reach although they are
        loopback, private or link-local (on-premise receivers)."""
        return tuple(ipaddress.ip_network(item.strip(), strict=False)
                     for item in self.webhook_allow_hosts.split(",") if item.strip())

    @property
    def error_reset_clock(self) -> tuple[int, int]:
        """(hour, minute) of ERROR_RESET_TIME, local time in TIMEZONE."""
        clock = time.fromisoformat(self.error_reset_time)
        if len(self.error_reset_time) != 5:
            raise ValueError("HH:MM")
        return clock.hour, clock.minute


# Numeric settings with a range: (lowest, highest or None, what an edge value means), checked by
# `Settings.check` (so also for values changed at /api/settings). Ranges of their own are checked there.
NUMERIC_BOUNDS: dict[str, tuple[float, float | None, str]] = {
    "session_backup_keep": (1, None, ""),
    "message_retention_days": (0, None, "0: keep forever"),
    "contact_retention_days": (0, None, "0: keep forever"),
    "media_retention_days": (0, None, "0: keep forever"),
    "prefer_wait_max_seconds": (1, 300, ""),
    "prefer_wait_max_requests": (0, None, "0: Prefer: wait is never applied"),
    "send_max_per_second": (1, None, ""),
    "send_max_attempts": (1, None, "1: no retry"),
    "send_max_age_minutes": (1, None, ""),
    "retry_base_seconds": (1, None, ""),
    "retry_max_seconds": (1, None, ""),
    "alert_error_min_messages": (0, None, ""),
    "alert_disconnected_minutes": (0, None, ""),
    "alert_queue_age_minutes": (0, None, ""),
    "alert_disk_free_mb": (0, None, ""),
    "alert_browser_restarts_per_hour": (0, None, ""),
    "alert_uptime_percent": (0, 100, "0: no uptime alert"),
    "bulk_new_numbers_warn_percent": (0, 100, "100: never warn"),
    "metrics_port": (0, 65535, "0: off"),
    "event_pump_busy_ms": (10, 400, "400: the quiet pace, always"),
    **{name: (1, None, "") for name in (
        "health_check_seconds", "schedule_dispatch_seconds", "sweeper_interval_seconds", "cleanup_interval_seconds",
        "session_backup_seconds", "events_retention_days", "events_stream_seconds", "events_heartbeat_seconds",
        "webhook_connect_timeout_seconds", "webhook_read_timeout_seconds", "webhook_retry_hours",
        "webhook_retry_base_ms", "webhook_disable_after_hours", "webhook_sweep_seconds", "group_read_timeout_seconds",
        "media_max_bytes", "media_fetch_timeout_seconds")},
}


# The original Node integration's variables, so an existing .env keeps working: old name -> the
# variable it stands for here, or None when it has no meaning here (recognised, then ignored).
LEGACY_ALIASES: dict[str, str | None] = {
    "WPPCONNECT_SESSION_NAME": "SESSION_NAME",
    "WPPCONNECT_HEADLESS": "HEADLESS",
    # WPPConnect closed the browser when no QR was scanned in time; here the worker keeps the QR
    # screen open (it rotates every 20 s) and the health check restarts a stuck session.
    "WPPCONNECT_AUTO_CLOSE": None,
    # the original chose between WhatsApp libraries; this gateway always drives WhatsApp Web with wa-js
    "WHATSAPP_PROVIDER": None,
}


def with_legacy_aliases(environ) -> dict[str, str]:
    """`environ` with each original variable copied to its new name (the new name wins when both are
    set), warning once per variable found so the operator can rename it."""
    environ = dict(environ)
    for old, new in LEGACY_ALIASES.items():
        if old not in environ:
            continue
        if new is None:
            log.warning("%s is a variable of the original integration with no meaning here: ignored", old)
        elif new in environ:
            log.warning("%s is ignored: %s is set too (the new name wins); remove %s", old, new, old)
        else:
            log.warning("%s is the original integration's name: read as %s; rename it to %s", old, new, new)
            environ[new] = environ[old]
    return environ


def load_settings(environ: dict[str, str] | None = None, **overrides) -> Settings:
    """Build settings from `environ` (default: os.environ); keyword overrides win (tests)."""
    environ = with_legacy_aliases(os.environ if environ is None else environ)
    values = {}
    for field in fields(Settings):
        raw = environ.get(field.name.upper())
        if raw is None:
            continue
        try:
            if field.type == "bool":
                values[field.name] = _bool(raw)
            elif field.type == "int":
                values[field.name] = int(raw)
            elif field.type == "float":
                values[field.name] = float(raw)
            else:
                values[field.name] = raw
        except ValueError as exc:
            raise SettingsError(f"{field.name.upper()}={raw!r} is not valid: {exc}") from None
    values.update(overrides)
    return Settings(**values).check()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings in the environment, read once: what entry points build their app from."""
    return load_settings()


_process_settings: Settings | None = None


def use_settings(settings: Settings) -> None:
    """Declare the settings this process serves outside a Flask request (a worker, beat)."""
    global _process_settings
    _process_settings = settings


def current_settings() -> Settings:
    """The settings of the code running now: the Flask app's inside one of its contexts (so two
    apps with different settings live in one process), else the process's (`use_settings`), else
    the environment's (a script)."""
    # a process that never imported Flask (a worker) has no app context, and is spared Flask's memory
    flask = sys.modules.get("flask")
    if flask is not None and flask.has_app_context():
        return flask.current_app.config["SETTINGS"]
    return _process_settings or get_settings()
