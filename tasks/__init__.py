"""Celery tasks: thin adapters that load by id, make one domain call and record the outcome.

Importing this package registers every task on the Celery app (`imports=("tasks",)`).
"""
from tasks import backups, contacts, groups, health, maintenance, messages, scheduling, webhooks  # noqa: F401
