"""Thin Celery task functions: each calls a capability of app/ and reports progress. The Celery
app itself is app/celery_app.py; the worker entry point is tasks/worker.py."""
