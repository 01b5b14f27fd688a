"""Reminder channels against real local servers: e-mail through an aiosmtpd SMTP server, the group
robot webhook and the SMS gateway through an HTTP server in a thread (HMAC signature checked the
way a receiver would), and a failing channel retried with backoff while the others go out."""
import hashlib
import hmac
import json
import socket
import threading
from datetime import timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from app.extensions import db
from tests.test_reminders import TODAY, D, add, at, resolution, rules, scan  # noqa: F401  (fixtures)

pytestmark = pytest.mark.today(TODAY)  # the reminder tests' day (the world is dated from it)

SECRET = "robot-secret-测试"


@pytest.fixture
def ctx(app, rules):  # noqa: F811
    with app.app_context():
        yield rules
        db.session.rollback()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


@pytest.fixture
def smtp(app, monkeypatch):
    aiosmtpd = pytest.importorskip("aiosmtpd.controller")
    mailbox = Mailbox()
    port = free_port()
    controller = aiosmtpd.Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setitem(app.config, "REMINDER_SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "REMINDER_SMTP_PORT", port)
    monkeypatch.setitem(app.config, "REMINDER_SMTP_TLS", "none")
    monkeypatch.setitem(app.config, "REMINDER_SMTP_SENDER", "reminders@gongjian.example.cn")
    yield mailbox
    controller.stop()


class Robot:
    """An HTTP server in a thread standing in for a WeCom/DingTalk robot or an SMS gateway."""

    def __init__(self):
        self.requests = []
        self.status = 200
        self.answer = {"errcode": 0, "errmsg": "ok"}
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                robot.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                payload = json.dumps(robot.answer).encode()
                self.send_response(robot.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/robot/send?access_token=abc"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def robot(app, monkeypatch):
    server = Robot()
    monkeypatch.setitem(app.config, "REMINDER_WEBHOOK_URL", server.url)
    monkeypatch.setitem(app.config, "REMINDER_WEBHOOK_SECRET", SECRET)
    yield server
    server.stop()


def verify(request, secret=SECRET):
    """What a receiver does: recompute HMAC-SHA256 over "<timestamp>.<body>" and compare."""
    timestamp = request["headers"]["X-Gongjian-Timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + request["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(request["headers"]["X-Gongjian-Signature"], "sha256=" + expected)


def deliveries(channel, **filters):
    from models import ReminderDelivery

    query = select(ReminderDelivery).where(ReminderDelivery.channel == channel)
    for name, value in filters.items():
        query = query.where(getattr(ReminderDelivery, name) == value)
    return db.session.execute(query).scalars().all()


def test_email_through_a_real_smtp_server(app, ctx, smtp):
    item = resolution(ctx, D)
    scan(D - timedelta(days=3))
    to_lead = [(rcpt, mail) for rcpt, mail in smtp.messages if "到期提醒" in mail["Subject"]]
    assert len(to_lead) == 1
    recipients, mail = to_lead[0]
    assert recipients == ["liaison1@example.cn"]
    assert mail["Subject"] == "【蓝色提醒】议定事项到期提醒"
    assert "reminders@gongjian.example.cn" in mail["From"]
    text = mail.get_content()
    assert item.title in text and "还有3天" in text
    assert f"http://127.0.0.1:5000/resolutionview/show/{item.id}" in text
    (delivery,) = deliveries("email", target_type="resolution", target_id=item.id)
    assert delivery.state == "sent" and delivery.attempts == 1 and delivery.subject == mail["Subject"]
    count = len(smtp.messages)
    scan(D - timedelta(days=2))
    # Never twice: the next day's scan sends this reminder again to nobody. (Other mails may go
    # out that day: the world fixture's own resolutions are dated from today and escalate.)
    assert not [mail for _rcpt, mail in smtp.messages[count:] if "到期提醒" in mail["Subject"]]
    assert len(deliveries("email", target_type="resolution", target_id=item.id)) == 1


def test_several_items_for_one_admin_make_one_mail(app, ctx, smtp):
    for n in range(3):
        resolution(ctx, D, title=f"逾期事项{n}")
    scan(D + timedelta(days=1))
    to_community1 = [mail for rcpt, mail in smtp.messages
                     if rcpt == ["community1@example.cn"] and "逾期预警" in mail["Subject"]]
    assert len(to_community1) == 1
    assert "共" in to_community1[0]["Subject"]
    body = to_community1[0].get_content()
    assert all(f"逾期事项{n}" in body for n in range(3))


def test_webhook_is_signed_with_hmac(app, ctx, robot):
    item = resolution(ctx, D)
    scan(D + timedelta(days=1))
    assert robot.requests, "the robot got nothing"
    for request in robot.requests:
        assert verify(request)
        assert not verify(request, secret="another-secret")
        payload = json.loads(request["body"])
        assert payload["msgtype"] == "text" and payload["text"]["content"]  # WeCom / DingTalk text message
    items = [i for r in robot.requests for i in json.loads(r["body"])["gongjian"]["items"]]
    assert {"target_type": "resolution", "target_id": item.id} in [
        {k: i[k] for k in ("target_type", "target_id")} for i in items]
    tampered = dict(robot.requests[0], body=robot.requests[0]["body"].replace(b"resolution", b"resolutioN"))
    assert not verify(tampered)
    assert all(d.state == "sent" for d in deliveries("webhook"))


def test_dingtalk_style_signs_the_url(app, ctx, robot, monkeypatch):
    import base64

    monkeypatch.setitem(app.config, "REMINDER_WEBHOOK_STYLE", "dingtalk")
    resolution(ctx, D)
    scan(D + timedelta(days=1))
    query = parse_qs(urlsplit(robot.requests[0]["path"]).query)
    assert query["access_token"] == ["abc"]
    timestamp, sign = query["timestamp"][0], query["sign"][0]
    digest = hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(), hashlib.sha256).digest()
    assert sign == base64.b64encode(digest).decode()


def test_sms_gateway_gets_signed_text_for_members(app, ctx, monkeypatch):
    from models import Area, PartyMember
    from tests.factories import member
    from tests.test_reminders import QUARTER_END

    gateway = Robot()
    try:
        monkeypatch.setitem(app.config, "REMINDER_SMS_URL", gateway.url)
        monkeypatch.setitem(app.config, "REMINDER_SMS_SECRET", SECRET)
        lone = add(member(db.session.get(Area, ctx["g12"]), name="未报到", phone="13912345678"))
        scan(QUARTER_END - timedelta(days=15))
        texts = [json.loads(r["body"]) for r in gateway.requests]
        assert {"phone": "13912345678"}.items() <= next(t for t in texts if t["phone"] == "13912345678").items()
        assert any("未报到" in t["text"] for t in texts)
        assert all(verify(r) for r in gateway.requests)
        assert db.session.get(PartyMember, lone.id) is not None
    finally:
        gateway.stop()


def test_failing_channel_is_retried_with_backoff_without_holding_up_the_others(app, ctx, smtp, robot):
    from app.reminders.sending import send_due
    from models import Notification, ReminderDelivery

    robot.status = 500
    item = resolution(ctx, D)
    clock = at(D + timedelta(days=1))
    report = scan(D + timedelta(days=1), clock=clock)
    hooks = deliveries("webhook", target_type="resolution", target_id=item.id)
    assert hooks and all(d.state == "failed" and d.attempts == 1 for d in hooks)
    assert all("HTTP 500" in d.last_error for d in hooks)
    assert all(d.next_attempt_at == clock + timedelta(seconds=60) for d in hooks)
    # In-app and e-mail went out all the same.
    assert {d.state for d in deliveries("email", target_type="resolution", target_id=item.id)} == {"sent"}
    assert {d.state for d in deliveries("inapp", target_type="resolution", target_id=item.id)} == {"sent"}
    assert any(rcpt == ["community1@example.cn"] for rcpt, _mail in smtp.messages)
    assert db.session.scalar(select(func.count()).select_from(Notification)) > 0
    assert report.rules["resolution_overdue"].failed >= 1

    calls = len(robot.requests)
    assert send_due(clock + timedelta(seconds=30)).sent == 0  # not yet: backing off
    assert len(robot.requests) == calls
    send_due(clock + timedelta(seconds=61))  # second try fails too: the wait doubles
    db.session.expire_all()
    hooks = deliveries("webhook", target_type="resolution", target_id=item.id)
    assert all(d.attempts == 2 and d.next_attempt_at == clock + timedelta(seconds=61 + 120) for d in hooks)
    robot.status = 200
    assert send_due(clock + timedelta(seconds=61 + 121)).sent >= len(hooks)  # (the world's items too)
    db.session.expire_all()
    assert {d.state for d in deliveries("webhook", target_type="resolution", target_id=item.id)} == {"sent"}
    mails = len(smtp.messages)
    send_due(clock + timedelta(hours=1))
    assert len(smtp.messages) == mails  # the retry pass resent nothing else

    # A channel that never recovers is given up after REMINDER_MAX_ATTEMPTS, visibly.
    robot.status = 500
    other = resolution(ctx, D, title="总是失败")
    scan(D + timedelta(days=1), clock=clock)
    moment = clock
    for _ in range(app.config["REMINDER_MAX_ATTEMPTS"]):
        moment += timedelta(hours=7)
        send_due(moment)
    db.session.expire_all()
    failed = deliveries("webhook", target_type="resolution", target_id=other.id)
    assert failed and {d.state for d in failed} == {"dead"}
    assert {d.attempts for d in failed} == {app.config["REMINDER_MAX_ATTEMPTS"]}
    assert db.session.scalar(select(func.count()).select_from(ReminderDelivery).where(
        ReminderDelivery.state == "sending")) == 0


def test_unreachable_smtp_fails_fast_and_the_rest_is_sent(app, ctx, robot, monkeypatch):
    """A dead SMTP server: one connection attempt, every mail deferred, the robot and in-app sent."""
    monkeypatch.setitem(app.config, "REMINDER_SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "REMINDER_SMTP_PORT", free_port())  # nothing listens there
    for n in range(3):
        resolution(ctx, D, title=f"事项{n}")
        resolution(ctx, D, community="c2", title=f"事项{n}")
    scan(D + timedelta(days=9))
    mails = deliveries("email")
    assert mails and {d.state for d in mails} == {"failed"}
    assert all("Connection refused" in d.last_error or "SMTP" in d.last_error for d in mails)
    assert {d.state for d in deliveries("inapp")} == {"sent"}
    assert {d.state for d in deliveries("webhook")} == {"sent"} and robot.requests


def test_requeue_from_the_delivery_log(app, rules, browser, monkeypatch):  # noqa: F811
    monkeypatch.setitem(app.config, "REMINDER_WEBHOOK_URL", f"http://127.0.0.1:{free_port()}/robot")
    with app.app_context():
        resolution(rules, D)
        scan(D + timedelta(days=1))
        ids = [d.id for d in deliveries("webhook")]
    user = browser("orgdept")
    answer = user.client.post("/reminderdeliveryview/action_post", data={
        "action": "requeue", "rowid": [str(pk) for pk in ids],
        "csrf_token": user.csrf_token("/reminderdeliveryview/list/")})
    assert answer.status_code == 302
    with app.app_context():
        assert {(d.state, d.attempts) for d in deliveries("webhook")} == {("pending", 0)}
    auditor = browser("auditor")
    assert auditor.get("/reminderdeliveryview/list/").status_code == 200
    refused = auditor.client.post("/reminderdeliveryview/action_post", data={
        "action": "requeue", "rowid": [str(ids[0])], "csrf_token": auditor.csrf_token("/reminderdeliveryview/list/")})
    assert refused.status_code in (302, 403)
    with app.app_context():
        assert {d.state for d in deliveries("webhook")} == {"pending"}
