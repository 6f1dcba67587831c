"""Enumerations stored as plain strings (readable in SQL, no PostgreSQL enum migrations)."""
from enum import StrEnum


class Role(StrEnum):
    CLIENT = "CLIENT"
    PROFESSIONAL = "PROFESSIONAL"
    ADMIN = "ADMIN"
    SUPER_ADMIN = "SUPER_ADMIN"


class Direction(StrEnum):
    INCOMING = "incoming"
    OUTGOING = "outgoing"


class MessageStatus(StrEnum):
    QUEUED = "QUEUED"
    SENDING = "SENDING"
    SENT = "SENT"
    DELIVERED = "DELIVERED"
    READ = "READ"
    FAILED = "FAILED"


class ErrorType(StrEnum):
    CONNECTION_ERROR = "CONNECTION_ERROR"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    RATE_LIMIT = "RATE_LIMIT"
    INVALID_NUMBER = "INVALID_NUMBER"
    NOT_WHATSAPP = "NOT_WHATSAPP"
    BLOCKED = "BLOCKED"
    UNKNOWN = "UNKNOWN"
    # API-level types (see DESIGN.md §4: added because a client must tell these apart)
    AUTHENTICATION_ERROR = "AUTHENTICATION_ERROR"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    # the gateway's own database or Redis is away: unlike CONNECTION_ERROR, not about WhatsApp
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"


class TemplateCategory(StrEnum):
    GREETING = "greeting"
    NOTIFICATION = "notification"
    MARKETING = "marketing"
    SUPPORT = "support"


class JobStatus(StrEnum):
    RUNNING = "RUNNING"
    DONE = "DONE"
    CANCELLED = "CANCELLED"


class ScheduleStatus(StrEnum):
    ACTIVE = "ACTIVE"
    DONE = "DONE"
    CANCELLED = "CANCELLED"
