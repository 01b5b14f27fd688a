"""The ``flask --app app gongjian seed-demo`` command. app/cli.py names it by import path, so the
demo package loads only when the command is looked up, never with the web server or the worker."""
import click
from flask.cli import with_appcontext

from app.core.actor import acting_as
from app.demo.seed import seed_demo


@click.command("seed-demo")
@click.option("--scale", default=1.0, show_default=True, help="Multiply the demo district's size.")
@with_appcontext
def seed_demo_command(scale):
    """Build a demo district shaped like the field figures, and the demo users."""
    with acting_as(None, via="cli"):
        counts = seed_demo(scale=scale)
    for name, value in counts.items():
        click.echo(f"{name}: {value}")
