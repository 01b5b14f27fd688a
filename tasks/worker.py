"""Worker entry point: ``celery -A tasks.worker worker -B --loglevel=info``.

Builds the Flask app from the environment (the same variables as the web server) and binds it,
so every task runs inside its app context (app.celery_app.AppContextTask). Production runs any
number of ``celery -A tasks.worker worker`` and exactly one ``celery -A tasks.worker beat``.
"""
from app.celery_app import celery_app, init_celery
from app.factory import create_app

flask_app = create_app()
celery = init_celery(flask_app)

__all__ = ["celery", "celery_app", "flask_app"]
