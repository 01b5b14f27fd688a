"""The app boots, the schema migrates, and the contract's API answers."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def test_login_and_list_members_through_api(world, api):
    client = api("orgdept")
    response = client.get("/api/v1/party_member/")
    assert response.status_code == 200
    assert response.json["count"] == 2


def test_the_running_app_never_loads_the_demo_package(app, tmp_path):
    """In a fresh interpreter, the worker's module (tasks.worker: it creates the app and binds it)
    and a request served by that app load nothing of app.demo: only seed-demo and serve do."""
    script = textwrap.dedent("""
        import sys

        import tasks.worker

        response = tasks.worker.flask_app.test_client().get("/login/")
        assert response.status_code == 200, response.status_code
        assert "app.demo" not in sys.modules, sorted(m for m in sys.modules if m.startswith("app.demo"))
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")}
    env.update(GONGJIAN_ENV="testing", GONGJIAN_DATA_DIR=str(tmp_path), CELERY_ALWAYS_EAGER="1",
               DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_DIR), env.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_DIR, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
