"""One command for the embedded default: the web server (waitress) and a Celery worker with
embedded beat (``celery -A tasks.worker worker -B``), started and stopped together.

``flask --app app gongjian serve [--host 127.0.0.1] [--port 5000] [--no-worker]`` (app/cli.py
finds ``serve_command`` here when the command runs). Production runs the pieces separately
(README: gunicorn or waitress, ``celery -A tasks.worker worker``, one beat).
"""
import os
import signal
import subprocess
import sys
import threading

import click
from flask import current_app
from flask.cli import with_appcontext
from waitress import create_server

from app.demo.users import DEMO_USERS

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER_STOP_SECONDS = 20


def worker_command(loglevel="info"):
    """The worker with embedded beat, run by the same Python as this process."""
    return [sys.executable, "-m", "celery", "-A", "tasks.worker", "worker", "-B", f"--loglevel={loglevel}"]


def start_worker(loglevel="info"):
    """Start the worker in its own session (a Ctrl-C in the terminal reaches this process only,
    which then stops the worker once, gracefully), with this process's environment."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PROJECT_DIR, env.get("PYTHONPATH")) if p)
    return subprocess.Popen(worker_command(loglevel), cwd=PROJECT_DIR, env=env, start_new_session=True)


def stop_worker(process, timeout=WORKER_STOP_SECONDS):
    """Warm shutdown (SIGTERM: running tasks finish), then SIGKILL after ``timeout`` seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        click.echo("The Celery worker did not stop in time: killing it.", err=True)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _watch_worker(process, stopping):
    """Say so when the worker dies while the web server still runs."""
    code = process.wait()
    if not stopping.is_set():
        click.echo(f"The Celery worker exited unexpectedly (exit code {code}): reminders and exports "
                   "will not run until `gongjian serve` is restarted.", err=True)


def print_banner(flask_app, url, with_worker):
    click.echo(f"Gongjian (共建) is running at {url}")
    click.echo("  Celery worker with beat: " + ("started" if with_worker else "not started (--no-worker)"))
    if flask_app.config.get("GONGJIAN_ENV") == "demo":
        password = flask_app.config["DEMO_PASSWORD"]
        click.echo(f"  Demo logins (password {password}):")
        for username, (role, label) in DEMO_USERS.items():
            click.echo(f"    {username:<11} {label} ({role})")
    click.echo("Press Ctrl-C to stop.")


def serve(flask_app, host="127.0.0.1", port=5000, with_worker=True, threads=8):
    """Serve ``flask_app`` with waitress until SIGINT/SIGTERM, with the worker alongside."""
    server = create_server(flask_app, host=host, port=port, threads=threads)  # binds (or fails) first
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else shown_host}:{port}/"
    worker = start_worker() if with_worker else None
    stopping = threading.Event()
    if worker is not None:
        threading.Thread(target=_watch_worker, args=(worker, stopping), daemon=True).start()

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)  # waitress's run() stops on SystemExit/KeyboardInterrupt

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    print_banner(flask_app, url, worker is not None)
    try:
        server.run()
    finally:
        stopping.set()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        try:
            server.close()
        except OSError:  # already closed by waitress
            pass
        if worker is not None:
            click.echo("Stopping the Celery worker…")
            stop_worker(worker)
        click.echo("Stopped.")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--worker/--no-worker", default=True, show_default=True,
              help="Also run a Celery worker with embedded beat (celery -A tasks.worker worker -B).")
@click.option("--threads", default=8, show_default=True, type=int, help="Web server threads.")
@with_appcontext
def serve_command(host, port, worker, threads):
    """Start the web server (waitress) and a Celery worker with beat; Ctrl-C stops both."""
    serve(current_app._get_current_object(), host=host, port=port, with_worker=worker, threads=threads)
