"""Gongjian configuration: one Config read from environment variables, with embedded defaults.

GONGJIAN_ENV selects the mode: ``demo`` (default; SQLite and an embedded Celery broker under the
data dir), ``testing`` or ``production`` (which refuses to start without a strong SECRET_KEY).
Every numeric rule of the field (quotas, grade scales, thresholds) is data in the database, not here.
"""
import os
from datetime import timedelta

from flask_appbuilder.const import AUTH_DB

BASE_DIR = os.path.abspath(os.path.dirname(__file__))
DEMO_SECRET_KEY = "gongjian-demo-secret-key-not-for-production"
DEMO_PASSWORD = "Gongjian@2026"
# TrueType fonts with Chinese glyphs that PDF letters can embed, most common first (Debian/Ubuntu
# fonts-wqy-microhei, fonts-wqy-zenhei, fonts-arphic-uming, fonts-noto-cjk; reportlab reads the
# first face of a .ttc collection).
CJK_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansSC-Regular.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
)


def env(name, default=None):
    """Return an environment variable, or the default when unset or empty."""
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_int(name, default):
    return int(env(name, default))


def env_bool(name, default):
    return str(env(name, default)).lower() in ("1", "true", "yes", "on")


class Config:
    """Settings for one app instance; ``Config()`` re-reads the environment each time."""

    def __init__(self):
        self.GONGJIAN_ENV = env("GONGJIAN_ENV", "demo")
        self.DATA_DIR = os.path.abspath(env("GONGJIAN_DATA_DIR", os.path.join(BASE_DIR, "instance")))
        self.SECRET_KEY = env("SECRET_KEY", DEMO_SECRET_KEY)
        # Key of the HMAC used to match duplicate ID-card numbers; derived from SECRET_KEY unless set.
        self.PERSONAL_DATA_HASH_KEY = env("GONGJIAN_HASH_KEY", self.SECRET_KEY)
        # Key that encrypts the TOTP secrets at rest (app/core/two_factor.py); SECRET_KEY if unset.
        self.TWO_FACTOR_KEY = env("GONGJIAN_TWO_FACTOR_KEY")
        self.DEMO_PASSWORD = env("GONGJIAN_DEMO_PASSWORD", DEMO_PASSWORD)

        self.SQLALCHEMY_DATABASE_URI = env(
            "DATABASE_URL", "sqlite:///" + os.path.join(self.DATA_DIR, "gongjian.sqlite")
        )
        self.SQLALCHEMY_TRACK_MODIFICATIONS = False
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI)

        # Celery: the embedded default needs no service (kombu's SQLAlchemy transport on SQLite).
        self.CELERY_BROKER_URL = env(
            "CELERY_BROKER_URL", "sqla+sqlite:///" + os.path.join(self.DATA_DIR, "celery-broker.sqlite")
        )
        self.CELERY_RESULT_BACKEND = env(
            "CELERY_RESULT_BACKEND", "db+sqlite:///" + os.path.join(self.DATA_DIR, "celery-results.sqlite")
        )
        self.CELERY_ALWAYS_EAGER = env_bool("CELERY_ALWAYS_EAGER", self.GONGJIAN_ENV == "testing")
        self.REMINDER_SCAN_MINUTES = env_int("GONGJIAN_REMINDER_SCAN_MINUTES", 60)
        # Reminders (app/reminders/): failed sends are retried every
        # REMINDER_RETRY_SECONDS with exponential backoff, at most REMINDER_MAX_ATTEMPTS times.
        self.REMINDER_RETRY_SECONDS = env_int("GONGJIAN_REMINDER_RETRY_SECONDS", 60)
        self.REMINDER_MAX_ATTEMPTS = env_int("GONGJIAN_REMINDER_MAX_ATTEMPTS", 6)
        self.REMINDER_BACKOFF_SECONDS = env_int("GONGJIAN_REMINDER_BACKOFF_SECONDS", 60)
        self.REMINDER_BACKOFF_MAX_SECONDS = env_int("GONGJIAN_REMINDER_BACKOFF_MAX_SECONDS", 6 * 3600)
        self.REMINDER_LEASE_SECONDS = env_int("GONGJIAN_REMINDER_LEASE_SECONDS", 600)
        self.REMINDER_SEND_BATCH = env_int("GONGJIAN_REMINDER_SEND_BATCH", 1000000)
        self.REMINDER_BASE_URL = env("GONGJIAN_BASE_URL", "http://127.0.0.1:5000")
        self.REMINDER_HTTP_TIMEOUT = env_int("GONGJIAN_REMINDER_HTTP_TIMEOUT", 5)
        # E-mail channel: enabled when a host is set; TLS is none, starttls or ssl.
        self.REMINDER_SMTP_HOST = env("GONGJIAN_SMTP_HOST", "")
        self.REMINDER_SMTP_PORT = env_int("GONGJIAN_SMTP_PORT", 25)
        self.REMINDER_SMTP_TLS = env("GONGJIAN_SMTP_TLS", "none")
        self.REMINDER_SMTP_USERNAME = env("GONGJIAN_SMTP_USERNAME", "")
        self.REMINDER_SMTP_PASSWORD = env("GONGJIAN_SMTP_PASSWORD", "")
        self.REMINDER_SMTP_SENDER = env("GONGJIAN_SMTP_SENDER", "gongjian@localhost")
        self.REMINDER_SMTP_TIMEOUT = env_int("GONGJIAN_SMTP_TIMEOUT", 10)
        # Group robot (WeCom / DingTalk) and SMS gateway: enabled when a URL is set; the secret
        # signs each POST (HMAC-SHA256); style "dingtalk" also signs the URL the DingTalk way.
        self.REMINDER_WEBHOOK_URL = env("GONGJIAN_WEBHOOK_URL", "")
        self.REMINDER_WEBHOOK_SECRET = env("GONGJIAN_WEBHOOK_SECRET", "")
        self.REMINDER_WEBHOOK_STYLE = env("GONGJIAN_WEBHOOK_STYLE", "generic")
        self.REMINDER_SMS_URL = env("GONGJIAN_SMS_URL", "")
        self.REMINDER_SMS_SECRET = env("GONGJIAN_SMS_SECRET", "")

        # Export files (under DATA_DIR/exports) are removed this many days after they are made; a
        # running job whose worker sent no heartbeat for EXPORT_STALE_SECONDS is failed by the sweeper.
        self.EXPORT_RETENTION_DAYS = env_int("GONGJIAN_EXPORT_RETENTION_DAYS", 7)
        self.EXPORT_STALE_SECONDS = env_int("GONGJIAN_EXPORT_STALE_SECONDS", 120)
        self.EXPORT_PENDING_HOURS = env_int("GONGJIAN_EXPORT_PENDING_HOURS", 24)

        # Audit entries are kept at least this long before `gongjian audit archive` may prune them.
        self.AUDIT_RETENTION_DAYS = env_int("GONGJIAN_AUDIT_RETENTION_DAYS", 180)
        # The audit MAC's keys (app/core/audit_keys.py: GONGJIAN_AUDIT_KEYS, else this file), and
        # the file beat appends the chain's head to every AUDIT_CHECKPOINT_SECONDS; both default
        # to the data directory (audit-keys.json, audit-checkpoints.jsonl).
        self.AUDIT_KEYS = env("GONGJIAN_AUDIT_KEYS")
        self.AUDIT_KEY_FILE = env("GONGJIAN_AUDIT_KEY_FILE")
        self.AUDIT_CHECKPOINT_FILE = env("GONGJIAN_AUDIT_CHECKPOINT_FILE")
        self.AUDIT_CHECKPOINT_SECONDS = env_int("GONGJIAN_AUDIT_CHECKPOINT_SECONDS", 300)

        # Account lockout: N failed logins within the window lock the account for some minutes.
        self.LOCKOUT_FAILURES = env_int("GONGJIAN_LOCKOUT_FAILURES", 5)
        self.LOCKOUT_WINDOW_MINUTES = env_int("GONGJIAN_LOCKOUT_WINDOW_MINUTES", 15)
        self.LOCKOUT_MINUTES = env_int("GONGJIAN_LOCKOUT_MINUTES", 30)

        # Flask-AppBuilder
        self.APP_NAME = env("GONGJIAN_APP_NAME", "共建")
        self.APP_THEME = ""
        self.AUTH_TYPE = AUTH_DB
        self.AUTH_ROLE_ADMIN = "Admin"
        self.AUTH_ROLE_PUBLIC = "Public"
        self.AUTH_USER_REGISTRATION = False
        self.FAB_ADD_SECURITY_API = True
        self.FAB_API_SWAGGER_UI = self.GONGJIAN_ENV != "production"
        self.FAB_API_MAX_PAGE_SIZE = env_int("GONGJIAN_API_MAX_PAGE_SIZE", 100)
        self.FAB_UPDATE_PERMS = True
        self.FAB_BASE_TEMPLATE = "gongjian/baselayout.html"
        self.FAB_INDEX_VIEW = "views.home.HomeView"
        self.FAB_PASSWORD_COMPLEXITY_ENABLED = True
        # FAB_PASSWORD_COMPLEXITY_VALIDATOR is set by the factory (app/core/formats.py).
        # Throttle login attempts per client address (FAB's limiter on the login form).
        self.RATELIMIT_ENABLED = env_bool("GONGJIAN_RATELIMIT", self.GONGJIAN_ENV != "testing")
        self.AUTH_RATE_LIMITED = True
        self.AUTH_RATE_LIMIT = env("GONGJIAN_LOGIN_RATE_LIMIT", "20 per minute")
        self.UPLOAD_FOLDER = os.path.join(self.DATA_DIR, "uploads")
        self.FILE_ALLOWED_EXTENSIONS = ("pdf", "jpg", "jpeg", "png", "doc", "docx", "xls", "xlsx", "zip")
        self.MAX_CONTENT_LENGTH = env_int("GONGJIAN_MAX_UPLOAD_MB", 20) * 1024 * 1024
        # The CJK font embedded in PDF feedback letters (None: no font found, PDF letters fail).
        self.PDF_FONT_PATH = env("GONGJIAN_PDF_FONT_PATH",
                                 next((p for p in CJK_FONT_CANDIDATES if os.path.isfile(p)), None))

        # Language: Chinese first, English second.
        self.BABEL_DEFAULT_LOCALE = "zh"
        self.BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
        self.BABEL_TRANSLATION_DIRECTORIES = os.path.join(BASE_DIR, "translations")
        self.LANGUAGES = {
            "zh": {"flag": "cn", "name": "中文"},
            "en": {"flag": "gb", "name": "English"},
        }

        # Web security
        self.WTF_CSRF_ENABLED = env_bool("GONGJIAN_CSRF", True)
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = self.GONGJIAN_ENV == "production"
        self.PERMANENT_SESSION_LIFETIME = timedelta(minutes=env_int("GONGJIAN_SESSION_MINUTES", 30))
        self.JWT_ACCESS_TOKEN_EXPIRES = timedelta(minutes=env_int("GONGJIAN_TOKEN_MINUTES", 15))
        # A refresh token lasts a working day (FAB: 30 days); logout, lockout and account changes
        # end it sooner (app/core/sessions.py).
        self.JWT_REFRESH_TOKEN_EXPIRES = timedelta(hours=env_int("GONGJIAN_REFRESH_TOKEN_HOURS", 12))
        # The login throttle's counters: shared by every web process in production when the broker
        # is Redis (per-process memory would let N processes allow N times the limit).
        shared = self.CELERY_BROKER_URL if self.GONGJIAN_ENV == "production" and \
            self.CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else "memory://"
        self.RATELIMIT_STORAGE_URI = env("GONGJIAN_RATELIMIT_STORAGE", shared)
        self.CONTENT_SECURITY_POLICY = env(
            "GONGJIAN_CSP", "frame-ancestors 'self'; object-src 'none'; base-uri 'self'; form-action 'self'")

        if self.GONGJIAN_ENV == "testing":
            self.TESTING = True

    def as_dict(self):
        return {k: v for k, v in vars(self).items() if k.isupper()}


def engine_options(url):
    """Engine options per backend: SQLite waits for locks; PostgreSQL cursors plan for all rows."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    if url.startswith("postgresql"):
        # Server-side cursors (exports) otherwise plan for fast first rows: see STACK-NOTES.
        return {"pool_pre_ping": True, "connect_args": {"options": "-c cursor_tuple_fraction=1.0"}}
    return {"pool_pre_ping": True}
