"""Pieces shared by the API, the tasks and the worker: settings, database, Redis, Celery, errors."""
