"""The outbox sweeper: the rows are the truth, the broker's tasks are only reminders.

Re-publishes what Redis may have lost: QUEUED single messages with no progress, bulk chains that
went silent, WhatsApp-existence check jobs and group operations with no progress, and rows stuck in
SENDING (reconciled against the chat by the worker, never resent blindly). A group operation left
RUNNING by a worker that died mid-call is not repeated: it ends FAILED (`no_answer`), for the
client to check the group. Every published task is idempotent, so a
reminder too many does nothing.

It also publishes the single messages whose wait was too long for a countdown on the broker
(services/send_rules.py): the worker leaves them QUEUED with a `not_before` and no task
(`task_id` NULL), and the first sweep after they are due publishes them. A published row gets a
task id and `not_before` = now, so the next reminder for it comes only once it is idle again.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, and_, cast, exists, func, or_, select, update
from sqlalchemy.orm import Session

from core.redis import Keys, get_redis
from models import BulkJob, CheckJob, GroupOperation, Message
from models.enums import JobStatus, MessageStatus
from services import dispatch, events, groups
from services.messages import now

# A group change RUNNING this long has lost its worker (a call is bounded by BROWSER_TIMEOUT_SECONDS
# plus the pacer's longest block, well under this).
GROUP_RUNNING_GIVE_UP_SECONDS = 600


@dataclass
class SweepReport:
    resent: int = 0
    reconciled: int = 0
    chains_restarted: int = 0
    jobs_finished: int = 0
    checks_resumed: int = 0
    groups_resumed: int = 0
    groups_abandoned: int = 0


def sweep(session: Session, *, idle_seconds: float, chain_idle_seconds: float | None,
          session_name: str | None = None) -> SweepReport:
    """Publish reminders for work idle longer than `idle_seconds`. `chain_idle_seconds=None`
    restarts every running chain (a worker that just started knows the old chain steps are gone)."""
    report = SweepReport()
    cutoff = now() - timedelta(seconds=idle_seconds)
    scope = [Message.session == session_name] if session_name else []

    for message_id, name in session.execute(select(Message.id, Message.session).where(
            *scope, Message.status == MessageStatus.SENDING.value, Message.sending_at <= cutoff)):
        dispatch.publish_reconcile(message_id, name)
        report.reconciled += 1

    at = now()
    for message_id, name, task_id in session.execute(
            update(Message)
            .where(*scope, Message.status == MessageStatus.QUEUED.value, Message.bulk_job_id.is_(None),
                   or_(and_(Message.task_id.is_(None), Message.not_before <= at),  # due, no task on its way
                       func.coalesce(Message.not_before, Message.created_at) <= cutoff))  # its task may be lost
            .values(task_id=cast(func.gen_random_uuid(), String), not_before=at)
            .returning(Message.id, Message.session, Message.task_id),
            execution_options={"synchronize_session": False}):
        dispatch.publish_send(message_id, name, task_id)
        report.resent += 1

    jobs = session.scalars(select(BulkJob).where(
        BulkJob.status == JobStatus.RUNNING.value, *([BulkJob.session == session_name] if session_name else [])))
    for job in jobs:
        unfinished = session.scalar(select(exists().where(
            Message.bulk_job_id == job.id,
            Message.status.in_([MessageStatus.QUEUED.value, MessageStatus.SENDING.value]))))
        if not unfinished:
            job.status, job.finished_at = JobStatus.DONE.value, now()
            events.job_progress(session, job.id, final=True)
            report.jobs_finished += 1
        elif chain_idle_seconds is None or _chain_silent(job, chain_idle_seconds):
            dispatch.start_chain(job.id, job.session)
            report.chains_restarted += 1
    for job in session.scalars(select(CheckJob).where(
            CheckJob.status == "RUNNING", CheckJob.updated_at <= cutoff,
            *([CheckJob.session == session_name] if session_name else []))):
        dispatch.publish_check(job.id, job.session, batch=len(job.numbers) > 1)
        report.checks_resumed += 1
    _sweep_group_operations(session, report, cutoff, session_name)
    return report


def _sweep_group_operations(session: Session, report: SweepReport, cutoff: datetime,
                            session_name: str | None) -> None:
    scope = [GroupOperation.session == session_name] if session_name else []
    for operation in session.scalars(select(GroupOperation).where(
            *scope, GroupOperation.status == "PENDING", GroupOperation.updated_at <= cutoff)):
        operation.updated_at = now()  # the next reminder only once it is idle again
        dispatch.publish_group_operation(operation.id, operation.session)
        report.groups_resumed += 1
    given_up = now() - timedelta(seconds=GROUP_RUNNING_GIVE_UP_SECONDS)
    for operation in session.scalars(select(GroupOperation).where(
            *scope, GroupOperation.status == "RUNNING", GroupOperation.updated_at <= given_up)):
        groups.fail(operation, "no_answer", "the worker stopped while running it: check the group before retrying")
        report.groups_abandoned += 1


def _chain_silent(job: BulkJob, seconds: float) -> bool:
    beat = get_redis().get(Keys.bulk_heartbeat(job.id))
    if beat is None:
        return job.created_at <= now() - timedelta(seconds=seconds)
    return datetime.fromisoformat(beat) <= now() - timedelta(seconds=seconds)
