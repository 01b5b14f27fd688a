"""The command line: ``flask --app app gongjian <command>``."""
import importlib
import sys

import click
from flask import current_app
from flask.cli import AppGroup
from flask_migrate import upgrade

from app.core import audit_keys, two_factor
from app.core.actor import acting_as
from app.core.audit import record_event
from app.core.audit_chain import ArchiveRefused, archive_entries
from app.core.audit_checkpoint import checkpoint_path, verify_log, write_checkpoint
from app.core.errors import refusal_text
from app.core.passwords import PasswordRefused, check_new_password, describe_policy, hash_password
from app.core.roles import sync_roles
from app.exports.query import ExportInvalid
from app.exports.requests import export_to_file
from app.exports.resources import resources
from app.extensions import db
from app.reference_data import ensure_reference_data
from app.reminders.moment import parse_moment
from app.reminders.scan import run_scan
from views.menu import MENU

# Commands whose modules must not load with the app: named by import path, imported when the
# command is looked up (run, or listed by --help). The demo package is never loaded by the web
# server or the worker; app/serve.py (the all-in-one start, a floor above) shows the demo logins.
NAMED_COMMANDS = {
    "seed-demo": "app.demo.command:seed_demo_command",
    "serve": "app.serve:serve_command",
}


class GongjianGroup(AppGroup):
    """The ``gongjian`` group: its own commands, and those of ``NAMED_COMMANDS`` resolved on use."""

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *NAMED_COMMANDS})

    def get_command(self, ctx, name):
        if name in NAMED_COMMANDS:
            module_name, attribute = NAMED_COMMANDS[name].split(":")
            return getattr(importlib.import_module(module_name), attribute)
        return super().get_command(ctx, name)


gongjian_cli = GongjianGroup("gongjian", help="Gongjian administration commands.")


@gongjian_cli.command("init")
def init_command():
    """Create or upgrade the schema (migrations), the permissions, the roles and reference data;
    outside production, the audit key file when there is none."""
    audit_keys.keyring()
    upgrade()
    appbuilder = current_app.appbuilder
    with acting_as(None, via="cli"):
        appbuilder.add_permissions(update_perms=True)
        sync_roles(appbuilder, MENU)
        ensure_reference_data()
    click.echo("Schema, roles and reference data are up to date.")


@gongjian_cli.command("create-admin")
@click.option("--username", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--email", required=True)
@click.option("--role", default="SecurityAdmin", show_default=True,
              help="The first account of a real deployment is the security admin, who creates the others.")
@click.option("--first-name", default="管理员")
@click.option("--last-name", default="")
def create_admin_command(username, password, email, role, first_name, last_name):
    """Create an account with one of the shipped roles; its owner chooses their own password at the
    first login (app/core/passwords.py)."""
    _check_password(password)
    sm = current_app.appbuilder.sm
    found = sm.find_role(role)
    if found is None:
        raise click.ClickException(f"No role {role!r}; run `flask --app app gongjian init` first")
    if sm.find_user(username=username):
        raise click.ClickException(f"User {username!r} already exists")
    with acting_as(None, via="cli"):
        user = sm.add_user(username, first_name, last_name or username, email, found, password)
    if not user:
        raise click.ClickException("Could not create the user (see the log)")
    click.echo(f"Created {username} ({role}).")


def _check_password(password, account=None):
    """The password policy (app/core/passwords.py), the same as on the screens; with an account,
    its last passwords too."""
    try:
        check_new_password(password, account)
    except PasswordRefused as weak:
        raise click.ClickException(f"{weak}. {describe_policy()}.") from None


def _account(username):
    account = current_app.appbuilder.sm.find_user(username=username)
    if account is None:
        raise click.ClickException(f"No user {username!r}")
    return account


@gongjian_cli.command("set-role")
@click.option("--username", required=True)
@click.option("--role", required=True, help="The account's one role from now on (e.g. Auditor).")
def set_role_command(username, role):
    """Give an account one role in place of its roles: the only way to give or take the system
    administrator, security administrator and auditor roles (app/core/duties.py)."""
    sm = current_app.appbuilder.sm
    found = sm.find_role(role)
    if found is None:
        raise click.ClickException(f"No role {role!r}; run `flask --app app gongjian init` first")
    with acting_as(None, via="cli"):
        account = _account(username)
        account.roles = [found]
        _commit_or_refuse()
    click.echo(f"{username} now holds {role}.")


@gongjian_cli.command("reset-password")
@click.option("--username", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def reset_password_command(username, password):
    """Set an account's password: the only way for a privileged account's (app/core/duties.py).
    Its owner must choose their own at the next login (app/core/passwords.py)."""
    with acting_as(None, via="cli"):
        account = _account(username)
        _check_password(password, account)
        account.password = hash_password(password)
        _commit_or_refuse()
    click.echo(f"Password of {username} reset; it must be changed at the next login.")


@gongjian_cli.command("reset-2fa")
@click.option("--username", required=True)
def reset_two_factor_command(username):
    """Remove an account's second factor (lost phone and recovery codes): the only way for a
    privileged account's (app/core/duties.py). It enrols anew at its next login if its roles
    require it. Audited ``2fa_reset``."""
    with acting_as(None, via="cli"):
        account = _account(username)
        two_factor.reset(account)
    click.echo(f"Two-factor authentication of {username} reset.")


def _commit_or_refuse():
    try:
        db.session.commit()
    except Exception as exc:
        reason = refusal_text(exc)
        db.session.rollback()
        if reason is None:
            raise
        raise click.ClickException(reason) from None


audit_cli = AppGroup("audit", help="Audit log commands.")
gongjian_cli.add_command(audit_cli)


@audit_cli.command("verify")
def audit_verify_command():
    """Walk the keyed chain and hold the checkpoints against it; exit non-zero naming the first
    bad (or missing) entry."""
    verdict = verify_log(db.session.connection())
    if not verdict.ok:
        where = f"entry {verdict.bad_id}" if verdict.bad_id is not None else "the checkpoint file"
        click.echo(f"Audit chain BROKEN at {where} ({verdict.reason}); {verdict.checked} entries verified "
                   f"before it.")
        sys.exit(1)
    click.echo(f"Audit chain OK: {verdict.checked} entries verified; {verdict.checkpoints} checkpoints "
               f"({checkpoint_path()}) match.")


@audit_cli.command("checkpoint")
def audit_checkpoint_command():
    """Append the chain's head to the checkpoint file (beat does it every few minutes)."""
    written = write_checkpoint(db.session.connection())
    db.session.rollback()
    if written is None:
        click.echo("The last checkpoint already holds the chain's head.")
    else:
        click.echo(f"Checkpoint {written['n']}: entry {written['last_id']}.")


@audit_cli.command("rotate-key")
def audit_rotate_key_command():
    """Add a new audit key to the key file and make it current (older entries keep theirs)."""
    try:
        key_id = audit_keys.rotate()
    except audit_keys.AuditKeyError as exc:
        raise click.ClickException(str(exc)) from None
    with acting_as(None, via="cli"):
        record_event("audit_key_rotated", "audit_log", key_id, summary=f"audit key {key_id}")
    click.echo(f"Audit key {key_id} is now current ({audit_keys.key_file_path()}).")


@audit_cli.command("archive")
@click.option("--before", "before", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Archive entries older than this date (UTC).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="The archive file to write (JSON lines).")
def audit_archive_command(before, out_path):
    """Export, seal and prune entries older than the retention period (180 days by default)."""
    with acting_as(None, via="cli"):
        try:
            seal = archive_entries(before, out_path, current_app.config["AUDIT_RETENTION_DAYS"])
        except ArchiveRefused as exc:
            raise click.ClickException(refusal_text(exc))
    if seal is None:
        click.echo("Nothing to archive.")
    else:
        click.echo(f"Archived {seal.entry_count} entries (ids {seal.first_id}-{seal.last_id}) to {out_path}; "
                   f"sha256 {seal.file_sha256}")


@gongjian_cli.command("export")
@click.argument("resource")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True)
@click.option("--as", "username", required=True, help="Export as this user: their scope and masking apply.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="The file to write.")
@click.option("--filter", "filters", multiple=True, metavar="FIELD=VALUE",
              help="Only rows whose FIELD equals VALUE (a related FIELD takes the record's id); repeatable.")
def export_command(resource, fmt, username, out_path, filters):
    """Export a list (e.g. party_member, service_record, audit_log) synchronously; prints the row count."""
    user = current_app.appbuilder.sm.find_user(username=username)
    if user is None or not user.active:
        raise click.ClickException(f"No active user {username!r}")
    parsed = {}
    for item in filters:
        field, sep, value = item.partition("=")
        if not sep or not field:
            raise click.ClickException(f"--filter takes FIELD=VALUE, not {item!r}")
        parsed[field.strip()] = value
    try:
        rows = export_to_file(user, resource, fmt, parsed, out_path)
    except ExportInvalid as exc:
        names = ", ".join(sorted(resources()))
        text = refusal_text(exc)
        raise click.ClickException(f"{text} (lists: {names})" if "resource" in exc.errors else text)
    click.echo(f"{rows} rows written to {out_path}")


@gongjian_cli.command("remind")
@click.option("--now", "now_text", default=None, metavar="ISO-DATETIME",
              help="Scan as of this moment (local time unless it names an offset); default: now.")
@click.option("--no-send", is_flag=True, help="Only claim the reminders due; leave sending to the next scan.")
def remind_command(now_text, no_send):
    """Run one reminder scan synchronously; print the reminders sent per rule."""
    try:
        now = parse_moment(now_text) if now_text else None
    except ValueError:
        raise click.ClickException(f"--now takes an ISO date-time (2026-11-24T09:00), not {now_text!r}")
    with acting_as(None, via="cli"):
        report = run_scan(now=now, send=not no_send)
    for code, count in report.rules.items():
        click.echo(f"{code} ({count.name}): sent {count.sent}, new {count.claimed}, failed {count.failed}")
    click.echo(f"Total sent: {report.sent}")
