"""The text of a reminder: the rule's Chinese template rendered per target, and one message per
recipient, rule, level and channel — the rule's text for one item, or a numbered list (the first
items, then how many more) linking to the list screen. Resolutions' reminders carry the tag of
their warning colour (app/statistics/definitions.py WARNINGS).
"""
from app.reminders import channels as channel_mod
from app.reminders.rules import KIND_TARGETS, PLACEHOLDER
from app.statistics import definitions as defs

# Where a single reminder links to (FAB's route of the screen), and a group of them.
SHOW_URLS = {"resolution": "/resolutionview/show/{id}", "meeting": "/meetingview/show/{id}",
             "party_member": "/partymemberview/show/{id}", "agreement": "/agreementview/show/{id}",
             "unit_checkin": "/unitcheckinview/show/{id}", "ab_user": "/"}
LIST_URLS = {"resolution": "/resolutionview/list/", "meeting": "/meetingview/list/",
             "party_member": "/partymemberview/list/", "agreement": "/agreementview/list/",
             "unit_checkin": "/unitcheckinview/list/", "ab_user": "/"}


def render(template, context):
    """Fill ``{field}`` placeholders (nothing else: no attribute access, no format specs)."""
    return PLACEHOLDER.sub(lambda m: str(context.get(m.group(1).strip(), m.group(0))), template or "")


def _tag(level, kind):
    """The warning colour's tag of a resolution reminder's title (【红色预警】…), else ""."""
    warning = defs.WARNINGS[level] if 0 <= level < len(defs.WARNINGS) else None
    return warning.tag_zh if warning is not None and kind in defs.ESCALATING_KINDS else ""


def build_message(group, items, contexts, rule, settings):
    """The message of one group: the rule's text for one item, or a numbered list of the ``items``
    shown (queue.GROUP_LINES at most), then how many more, linking to the list screen."""
    tag = _tag(group.level, rule.kind)
    lines = []
    for target_type, target_id in items:
        context = contexts.get((target_type, target_id))
        lines.append(render(rule.template, context) if context else f"{target_type} #{target_id}")
    target_type = items[0][0] if items else KIND_TARGETS[rule.kind]
    if group.n == 1 and items:
        title, body = f"{tag}{rule.name}", lines[0]
        link = SHOW_URLS[target_type].format(id=items[0][1])
    else:
        title = f"{tag}{rule.name}（共{group.n}项）"
        body = "\n".join(f"{n}. {line}" for n, line in enumerate(lines, start=1))
        if group.n > len(lines):
            body += f"\n……另有{group.n - len(lines)}项，请登录系统查看。"
        link = LIST_URLS[target_type]
    if group.channel != "inapp":
        link = settings["base_url"] + link
    user = group.recipient_type == "user"
    return channel_mod.Message(
        channel=group.channel, recipient_type=group.recipient_type, recipient_id=group.recipient_id,
        address=group.email if user else group.phone, recipient_name=(group.user_name if user else group.member_name)
        or "", title=title, body=body, link=link, level=group.level, rule_id=group.rule_id, rule_code=rule.code,
        items=[{"target_type": t, "target_id": i, "text": line} for (t, i), line in zip(items, lines)],
        total=group.n)
