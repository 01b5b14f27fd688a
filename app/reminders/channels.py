"""Reminder channels: ONE interface (``Channel``) for every way a reminder leaves the system.

* ``inapp``   — a Notification row (the bell), written in the same transaction that marks the
  delivery sent, so it is exactly once;
* ``email``   — SMTP (host, port, TLS mode, sender, optional login: REMINDER_SMTP_* settings);
* ``webhook`` — a JSON POST to a group robot (WeCom / DingTalk style ``msgtype: text`` body),
  signed with HMAC-SHA256 in ``X-Gongjian-Signature`` (and DingTalk's ``timestamp``/``sign``
  query parameters when REMINDER_WEBHOOK_STYLE=dingtalk);
* ``sms``     — a JSON POST to an SMS gateway, signed the same way (REMINDER_SMS_URL).

A channel is enabled when its settings are present (in-app always is). ``send`` raises
``ChannelError`` for a failure of one message (retried with backoff) and ``ChannelUnavailable``
when the channel itself is down (the rest of its batch is deferred at once rather than each
message waiting for its own timeout, so one dead channel never holds up the others).
"""
import base64
import hashlib
import hmac
import json
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from app.core.calendar import utcnow

SIGNATURE_HEADER = "X-Gongjian-Signature"
TIMESTAMP_HEADER = "X-Gongjian-Timestamp"


class ChannelError(Exception):
    """Sending one message failed; it will be retried with backoff."""


class ChannelUnavailable(ChannelError):
    """The channel itself is unreachable (connection refused, timeout, bad login)."""


@dataclass
class Message:
    """One outgoing reminder: possibly several deliveries (items) to one recipient on one channel."""

    channel: str
    recipient_type: str
    recipient_id: int
    address: str | None
    recipient_name: str
    title: str
    body: str
    link: str
    level: int = 0
    rule_id: int | None = None
    rule_code: str = ""
    items: list = field(default_factory=list)  # the items listed: [{"target_type", "target_id", "text"}]
    total: int = 1  # how many items the message stands for (a long list shows the first ones)


def backoff_seconds(attempts, base, cap):
    """Exponential backoff after ``attempts`` failed tries: base, 2·base, 4·base … at most cap."""
    return min(cap, base * 2 ** max(0, attempts - 1))


def sign(secret, timestamp, body):
    """HMAC-SHA256 (hex) of ``"<timestamp>.<body>"``: the receiver checks who sent it and when."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def dingtalk_sign(secret, timestamp_ms):
    """DingTalk robots' signature: base64(HMAC-SHA256(secret, "<timestamp>\\n<secret>"))."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class Channel:
    """The interface: ``enabled(config)``, which recipients it can address, and ``send``.

    ``open`` / ``close`` bracket a batch (one SMTP connection for many messages)."""

    code = ""
    recipient_types = ("user",)

    def __init__(self, config):
        self.config = config

    @classmethod
    def enabled(cls, config):
        return True

    def open(self):
        pass

    def close(self):
        pass

    def send(self, message):
        raise NotImplementedError


class InAppChannel(Channel):
    """Collects Notification rows; the scan inserts them with the delivery states, atomically."""

    code = "inapp"

    def __init__(self, config):
        super().__init__(config)
        self.rows = []

    def send(self, message):
        self.rows.append({"user_id": message.recipient_id, "rule_id": message.rule_id, "level": message.level,
                          "title": message.title[:200], "body": message.body, "link": message.link[:300],
                          "created_at": utcnow(), "read_at": None})

    def take_rows(self):
        rows, self.rows = self.rows, []
        return rows


class EmailChannel(Channel):
    """Plain-text e-mail over SMTP; TLS mode ``starttls``, ``ssl`` or ``none``."""

    code = "email"

    def __init__(self, config):
        super().__init__(config)
        self.smtp = None

    @classmethod
    def enabled(cls, config):
        return bool(config.get("REMINDER_SMTP_HOST"))

    def _connect(self):
        config = self.config
        host, port = config["REMINDER_SMTP_HOST"], int(config.get("REMINDER_SMTP_PORT") or 25)
        timeout = float(config.get("REMINDER_SMTP_TIMEOUT") or 10)
        tls = (config.get("REMINDER_SMTP_TLS") or "none").lower()
        try:
            if tls == "ssl":
                smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(host, port, timeout=timeout)
                if tls == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
            if config.get("REMINDER_SMTP_USERNAME"):
                smtp.login(config["REMINDER_SMTP_USERNAME"], config.get("REMINDER_SMTP_PASSWORD") or "")
        except (OSError, smtplib.SMTPException) as exc:
            raise ChannelUnavailable(f"SMTP {host}:{port}: {exc}") from exc
        return smtp

    def close(self):
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self.smtp = None

    def send(self, message):
        if not message.address:
            raise ChannelError("no e-mail address")
        if self.smtp is None:
            self.smtp = self._connect()
        mail = EmailMessage()
        sender = self.config.get("REMINDER_SMTP_SENDER") or "gongjian@localhost"
        mail["From"] = formataddr((self.config.get("APP_NAME") or "共建", sender))
        mail["To"] = formataddr((message.recipient_name or "", message.address))
        mail["Subject"] = message.title
        mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
        mail.set_content(f"{message.body}\n\n{message.link}\n")
        try:
            self.smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            raise ChannelError(f"recipient refused: {exc.recipients}") from exc
        except smtplib.SMTPResponseException as exc:
            raise ChannelError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            self.smtp = None  # reconnect for the next message, or give up the batch
            raise ChannelUnavailable(f"SMTP: {exc}") from exc


class WebhookChannel(Channel):
    """A signed JSON POST to a group robot; one message per item group, not per person."""

    code = "webhook"
    recipient_types = ("group",)
    url_key, secret_key = "REMINDER_WEBHOOK_URL", "REMINDER_WEBHOOK_SECRET"

    @classmethod
    def enabled(cls, config):
        return bool(config.get(cls.url_key))

    def payload(self, message):
        return {
            "msgtype": "text",
            "text": {"content": f"{message.title}\n{message.body}\n{message.link}".strip()},
            "gongjian": {"rule": message.rule_code, "level": message.level, "title": message.title,
                         "link": message.link, "total": message.total, "items": message.items},
        }

    def url(self, timestamp):
        url = self.config[self.url_key]
        secret = self.config.get(self.secret_key) or ""
        if secret and (self.config.get("REMINDER_WEBHOOK_STYLE") or "").lower() == "dingtalk":
            millis = timestamp * 1000
            query = urllib.parse.urlencode({"timestamp": millis, "sign": dingtalk_sign(secret, millis)})
            url += ("&" if "?" in url else "?") + query
        return url

    def send(self, message):
        body = json.dumps(self.payload(message), ensure_ascii=False).encode()
        timestamp = int(time.time())
        headers = {"Content-Type": "application/json; charset=utf-8", TIMESTAMP_HEADER: str(timestamp)}
        secret = self.config.get(self.secret_key) or ""
        if secret:
            headers[SIGNATURE_HEADER] = "sha256=" + sign(secret, timestamp, body)
        request = urllib.request.Request(self.url(timestamp), data=body, headers=headers, method="POST")
        timeout = float(self.config.get("REMINDER_HTTP_TIMEOUT") or 5)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                answer = response.read(4096)
        except urllib.error.HTTPError as exc:
            raise ChannelError(f"{self.code} {self.where()}: HTTP {exc.code} {exc.read(300)!r}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise ChannelUnavailable(f"{self.code} {self.where()}: {getattr(exc, 'reason', exc)}") from exc
        self.check_answer(answer)

    def where(self):
        """The endpoint for error messages: scheme, host and port only (robot URLs carry tokens)."""
        parts = urllib.parse.urlsplit(self.config[self.url_key])
        return f"{parts.scheme}://{parts.netloc}"

    @staticmethod
    def check_answer(answer):
        """WeCom and DingTalk answer 200 with {"errcode": n}; anything but 0 is a failure."""
        try:
            data = json.loads(answer or b"{}")
        except ValueError:
            return
        if isinstance(data, dict) and data.get("errcode") not in (None, 0):
            raise ChannelError(f"robot refused: {data.get('errcode')} {data.get('errmsg', '')}")


class SmsChannel(WebhookChannel):
    """Text messages through an HTTP SMS gateway (signed JSON ``{"phone", "text"}``)."""

    code = "sms"
    recipient_types = ("member",)
    url_key, secret_key = "REMINDER_SMS_URL", "REMINDER_SMS_SECRET"

    def payload(self, message):
        if not message.address:
            raise ChannelError("no mobile number")
        return {"phone": message.address, "text": f"{message.title}：{message.body}"[:500]}

    def url(self, timestamp):
        return self.config[self.url_key]


CHANNEL_CLASSES = {cls.code: cls for cls in (InAppChannel, EmailChannel, WebhookChannel, SmsChannel)}


def enabled_channels(config):
    """Codes of the channels configured in this deployment."""
    return [code for code, cls in CHANNEL_CLASSES.items() if cls.enabled(config)]


def open_channel(code, config):
    return CHANNEL_CLASSES[code](config)
