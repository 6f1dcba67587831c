"""SQLAlchemy 2 models on PostgreSQL. Importing this package registers every table on Base.metadata."""
from models.accounts import ApiToken, User
from models.audit import AuditLog
from models.backups import SessionBackup
from models.base import Base
from models.checks import CheckJob
from models.contacts import Contact
from models.events import Event, WebhookDelivery, WebhookEndpoint
from models.groups import GroupOperation, GroupParticipantChange
from models.media import Media, MediaChunk
from models.messages import BulkJob, Message, MessageCount, MessageEvent
from models.ops import Alert, ErrorCounter, IdempotencyKey, RuntimeSetting
from models.scheduling import ScheduledMessage, ScheduledRun
from models.sessions import WaSession
from models.stats import MessageDailyPhone, MessageHourlyCount, MessageLatencyDaily, SessionUptimeHourly
from models.templates import Template

__all__ = [
    "Alert", "ApiToken", "AuditLog", "Base", "BulkJob", "CheckJob", "Contact", "ErrorCounter", "Event", "GroupOperation",
    "GroupParticipantChange", "IdempotencyKey", "Media", "MediaChunk", "Message", "MessageCount", "MessageDailyPhone",
    "MessageEvent", "MessageHourlyCount", "MessageLatencyDaily", "RuntimeSetting", "ScheduledMessage", "ScheduledRun",
    "SessionBackup", "SessionUptimeHourly", "Template", "User", "WaSession", "WebhookDelivery", "WebhookEndpoint",
]
