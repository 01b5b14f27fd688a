"""Screens and API of reminders: the rules (提醒规则, system admin and organisation department) and
the delivery log (发送记录), where failed sends, their errors and next retry are visible and a
given-up delivery can be queued again."""
from flask import flash, redirect
from flask_appbuilder.actions import action
from flask_appbuilder.fieldwidgets import Select2ManyWidget
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from wtforms import SelectMultipleField
from wtforms.validators import Optional

from app.core.scoped_interface import ComputedColumnsInterface
from app.extensions import db
from app.reminders import rules as rule_checks  # noqa: F401  (registers the checks the rule screen and API run)
from app.reminders.messages import SHOW_URLS
from app.statistics.definitions import level_colour
from models import (
    CHANNELS,
    DELIVERY_STATES,
    RECIPIENT_CODES,
    REMINDER_KINDS,
    PartyMember,
    ReminderDelivery,
    ReminderRule,
)
from models.reminder import WARNING_LEVELS, split_codes
from views.api_base import GongjianApi
from views.base import METHOD_PERMISSIONS, GongjianBaseView, GongjianModelView

RULE_COLUMNS = ["name", "kind", "offset_days", "escalate_after_days", "recipients", "escalation_recipients",
                "channels", "template", "enabled", "description"]
DELIVERY_COLUMNS = ["created_at", "rule", "target_type", "target_id", "target_area", "occasion", "level",
                    "recipient_type", "recipient_id", "channel", "state", "attempts", "next_attempt_at", "sent_at",
                    "last_error"]


class CodesField(SelectMultipleField):
    """A multi-select kept as comma-separated codes in one column ("community_admin,orgdept")."""

    widget = Select2ManyWidget()

    def process_data(self, value):
        self.data = split_codes(value) if isinstance(value, str) or value is None else list(value)

    def populate_obj(self, obj, name):
        setattr(obj, name, ",".join(self.data or []))


def codes_formatter(choices):
    return lambda value: "、".join(str(choices.label(code)) for code in split_codes(value))


def level_formatter(level):
    """A delivery's escalation level (yellow, red); level 0 is every plain reminder's, left blank."""
    return WARNING_LEVELS.label(level_colour(level)) if level else ""


def _codes_field(label, choices, required=True):
    return CodesField(label, choices=list(choices), validators=[] if required else [Optional()])


class ReminderRuleView(GongjianModelView):
    """The rule screen (提醒规则): what each rule watches, when, who hears, how, and the text."""

    model = ReminderRule
    choice_columns = {"kind": REMINDER_KINDS}
    list_columns = ["name", "kind", "offset_days", "escalate_after_days", "recipients", "channels", "enabled"]
    show_columns = ["code"] + RULE_COLUMNS
    add_columns = ["code"] + RULE_COLUMNS
    edit_columns = RULE_COLUMNS
    search_columns = ["name", "kind", "enabled"]
    base_order = ("id", "asc")
    formatters_columns = {"recipients": codes_formatter(RECIPIENT_CODES),
                          "escalation_recipients": codes_formatter(RECIPIENT_CODES),
                          "channels": codes_formatter(CHANNELS)}

    def __init__(self, **kwargs):
        fields = {
            "recipients": _codes_field(_l("Recipients"), RECIPIENT_CODES),
            "escalation_recipients": _codes_field(_l("Red-level recipients"), RECIPIENT_CODES, required=False),
            "channels": _codes_field(_l("Channels"), CHANNELS),
        }
        self.add_form_extra_fields = {**fields, **(self.add_form_extra_fields or {})}
        self.edit_form_extra_fields = {**fields, **(self.edit_form_extra_fields or {})}
        super().__init__(**kwargs)


class ReminderRuleApi(GongjianApi):
    model = ReminderRule
    resource_name = "reminder_rule"
    choice_columns = {"kind": REMINDER_KINDS}
    list_columns = show_columns = ["id", "code"] + RULE_COLUMNS
    add_columns = ["code"] + RULE_COLUMNS
    edit_columns = RULE_COLUMNS
    search_columns = ["code", "name", "kind", "enabled"]
    order_columns = ["id", "name", "kind"]


def delivery_target(delivery):
    """The delivery's target as a link to its page."""
    url = SHOW_URLS.get(delivery.target_type, "").format(id=delivery.target_id)
    text = f"{delivery.target_type} #{delivery.target_id}"
    return Markup(f'<a href="{escape(url)}">{escape(text)}</a>') if url and url != "/" else text


def delivery_recipient(delivery):
    """Who received it: the account or member's name (one lookup per row of a 20-row page)."""
    if delivery.recipient_type == "user":
        user = db.session.get(User, delivery.recipient_id)
        return f"{user.username}（{user.last_name}{user.first_name}）" if user else f"#{delivery.recipient_id}"
    if delivery.recipient_type == "member":
        member = db.session.get(PartyMember, delivery.recipient_id)
        return member.name if member else f"#{delivery.recipient_id}"
    return str(_l("Group robot"))


class DeliveryInterface(ComputedColumnsInterface):
    """The delivery log as its screen reads it: its columns, plus ``target_link`` and
    ``recipient_label``, computed per row (no SQL column to select, order or filter by)."""

    COMPUTED = {"target_link": delivery_target, "recipient_label": delivery_recipient}


class ReminderDeliveryView(GongjianBaseView):
    """The delivery log: one row per reminder per recipient per channel; failures stay visible
    with their error, attempts and next retry."""

    model = ReminderDelivery
    method_permission_name = {**METHOD_PERMISSIONS, "requeue": "write"}
    include_route_methods = {"list", "show", "action", "action_post"}
    choice_columns = {"state": DELIVERY_STATES, "channel": CHANNELS}
    list_columns = ["created_at", "rule", "target_link", "level", "recipient_label", "channel", "state",
                    "attempts", "next_attempt_at", "last_error"]
    order_columns = ["created_at", "level", "channel", "state", "attempts", "next_attempt_at", "last_error"]
    show_columns = DELIVERY_COLUMNS + ["subject", "body"]
    search_columns = ["state", "channel", "rule", "target_type", "created_at"]
    label_columns = {"target_link": _l("Target"), "recipient_label": _l("Recipient")}
    formatters_columns = {"level": level_formatter}
    base_order = ("id", "desc")

    @action("requeue", _l("Send again"), _l("Queue the selected failed deliveries for sending again?"),
            "fa-rotate-right", single=False)
    def requeue(self, items):
        items = [item for item in (items if isinstance(items, list) else [items]) if item is not None]
        again = [item for item in items if item.state in ("failed", "dead", "cancelled")]
        for item in again:
            item.state, item.attempts, item.next_attempt_at, item.last_error = "pending", 0, None, None
        db.session.commit()
        flash(_l("%(count)d deliveries queued again", count=len(again)), "success")
        self.update_redirect()
        return redirect(self.get_redirect())


ReminderDeliveryView.datamodel = DeliveryInterface(ReminderDelivery)


class ReminderDeliveryApi(GongjianApi):
    """Read-only: the log is written by the scan alone."""

    model = ReminderDelivery
    resource_name = "reminder_delivery"
    include_route_methods = {"get", "get_list", "info"}
    list_columns = show_columns = ["id", "rule_id", "rule.code", "target_type", "target_id", "target_area_id",
                                   "occasion", "level", "recipient_type", "recipient_id", "channel", "state",
                                   "attempts", "last_error", "next_attempt_at", "created_at", "sent_at"]
    search_columns = ["state", "channel", "rule", "target_type", "created_at"]
    order_columns = ["id", "created_at", "state"]
