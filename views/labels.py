"""Help texts of the screens' fields and the audit log's codes shown as words. What a field or a
table is called lives in app/core/labels.py (the record rules name them in their messages)."""
from flask_babel import lazy_gettext as _l

DESCRIPTIONS = {
    "id_card": _l("18-digit resident ID-card number (GB 11643)"),
    "credit_code": _l("18-character unified social credit code (GB 32100)"),
    "phone": _l("11-digit mainland mobile number"),
    "hours": _l("Between 0.1 and 24 hours"),
    "period": _l("A year (2026) or a quarter (2026Q3)"),
    "reject_reason": _l("Required when the item is rejected"),
    "quarter": _l("A year and a quarter number, e.g. 2026Q4"),
}


# Audit log codes shown as words.
ACTION_LABELS = {
    "create": _l("Created"),
    "update": _l("Changed"),
    "delete": _l("Deleted"),
    "login": _l("Logged in"),
    "login_failed": _l("Failed login"),
    "login_refused_locked": _l("Login refused (account locked)"),
    "lockout": _l("Account locked"),
    "unlock": _l("Account unlocked"),
    "logout": _l("Logged out"),
    "reveal": _l("Viewed personal data"),
    "denied": _l("Permission refused"),
    "export": _l("Export requested"),
    "download": _l("File downloaded"),
    "duplicate": _l("Duplicate registration refused"),
    "forced_logout": _l("Forced logout"),
    "session_ended": _l("Session ended by its owner"),
    "2fa_failed": _l("Failed second-factor check"),
    "2fa_enrolled": _l("Two-factor authentication set up"),
    "2fa_disabled": _l("Two-factor authentication turned off"),
    "2fa_reset": _l("Two-factor authentication reset"),
    "2fa_recovery_codes": _l("New recovery codes made"),
    "2fa_recovery_used": _l("Recovery code used"),
    "login_refused_two_factor": _l("Login held back (two-factor authentication must be set up)"),
    "captcha_failed": _l("Wrong captcha"),
    "password_changed": _l("Password changed"),
    "password_change_failed": _l("Password change refused (wrong current password)"),
    "login_refused_password_change": _l("Login held back (password must be changed)"),
    "audit_key_rotated": _l("Audit key rotated"),
    "archive": _l("Audit entries archived"),
    "approve": _l("Approved"),
    "reject": _l("Rejected"),
}
VIA_LABELS = {
    "web": _l("Screen"),
    "api": _l("API"),
    "cli": _l("Command line"),
    "task": _l("Background task"),
    "system": _l("System"),
    "test": _l("Test"),
}

DESCRIPTIONS.update({
    "offset_days": _l("Days before the event (due date, meeting, quarter end, expiry) or after it (overdue, "
                      "minutes); for the monthly digest, the day of the month"),
    "escalate_after_days": _l("Overdue resolutions turn red this many days after turning yellow"),
    "template": _l("Chinese text with fields in braces, e.g. {title} {deadline}; the rule screen lists the "
                   "fields each kind can use"),
})
