"""SQLAlchemy 2 models on PostgreSQL. Importing this package registers every table on Base.metadata."""
from models.accounts import ApiToken, User
from models.audit import AuditLog
from models.base import Base
from models.contacts import Contact
from models.messages import BulkJob, Message, MessageEvent
from models.ops import ErrorCounter, IdempotencyKey
from models.scheduling import ScheduledMessage, ScheduledRun
from models.templates import Template

__all__ = [
    "ApiToken", "AuditLog", "Base", "BulkJob", "Contact", "ErrorCounter", "IdempotencyKey",
    "Message", "MessageEvent", "ScheduledMessage", "ScheduledRun", "Template", "User",
]
