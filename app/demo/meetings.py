"""The joint meetings (联席会议 and the informal ones) of one demo community: every meeting type,
some planned, the others held with agenda, resolutions of every status and filed minutes.
"""
from datetime import datetime, time, timedelta

from app.demo.phrases import EVIDENCE_NOTES, PROGRESS_NOTES
from models import AgendaItem, Meeting, Resolution

INFORMAL_TYPES = ("板凳会", "院坝会", "火塘会")  # held in a grid rather than at the community
RESOLUTION_STATUSES = ("open", "in_progress", "done", "overdue")


def build_meetings(ctx, index, community, area, homes):
    """Meetings of every type at the ``index``-th community ``area`` (informal ones in a grid)."""
    grids = [h for h in homes if h.level == "grid"]
    r_index = index
    for t, meeting_type in enumerate(ctx.meeting_types):
        informal = meeting_type["name"] in INFORMAL_TYPES
        for k in range(max(1, ctx.count(1))):
            planned = (t + k + index) % 7 == 6
            held_day = ctx.today + timedelta(days=ctx.rng.randint(3, 20)) if planned else ctx.past_day(330, 5)
            meeting_area = ctx.rng.choice(grids) if informal and grids else area
            meeting, people, partners = _new_meeting(ctx, community, meeting_type, meeting_area, held_day,
                                                     planned, number=k + 1 + t % 3)
            topics = _add_agenda(ctx, meeting, people, partners, planned)
            if planned:
                continue
            lines = []
            for r in range(ctx.rng.randint(1, 3)):
                resolution = _add_resolution(ctx, meeting, partners, held_day, RESOLUTION_STATUSES[r_index % 4])
                r_index += 1
                lines.append(f"{r + 1}. {resolution.title}（牵头：{resolution.lead_unit.name}，"
                             f"{resolution.deadline:%Y年%m月%d日}前完成）")
            if meeting.status == "minutes_filed":
                meeting.minutes = _minutes(meeting, people, topics, lines)


def _new_meeting(ctx, community, meeting_type, meeting_area, held_day, planned, number):
    """The meeting with 1–4 partner units; returns it, the people present (convener and note
    taker first) and the partners."""
    rng = ctx.rng
    partners = [ctx.units[u] for u in
                rng.sample(community["checked_in"], min(len(community["checked_in"]), rng.randint(1, 4)))]
    convener, note_taker = ctx.person(), ctx.person()
    meeting = Meeting(
        meeting_type_id=meeting_type["id"], area=meeting_area, held_at=ctx.at(held_day, 9, 17),
        title=f"{meeting_area.name}{held_day.year}年第{number}次{meeting_type['name']}",
        place=f"{community['name']}党群服务中心{rng.choice(('一楼会议室', '二楼议事厅', '活动室'))}",
        convener=convener, note_taker=note_taker, units=partners,
        status="planned" if planned else rng.choice(("held", "minutes_filed", "minutes_filed")),
    )
    people = [convener, note_taker] + [ctx.person() for _ in range(rng.randint(3, 7))]
    meeting.attendees = "，".join(people + [u.name for u in partners])
    ctx.session.add(meeting)
    return meeting, people, partners


def _add_agenda(ctx, meeting, people, partners, planned):
    """2–4 agenda items (discussed unless the meeting is only planned); returns their topics."""
    topics = [ctx.fake.meeting_topic() for _ in range(ctx.rng.randint(2, 4))]
    for seq, topic in enumerate(topics, start=1):
        ctx.session.add(AgendaItem(
            meeting=meeting, seq=seq, title=topic, proposer=ctx.rng.choice(people[2:] + [partners[0].name]),
            discussion=None if planned else "与会人员逐一发言，明确责任单位和完成时限",
        ))
    return topics


def _add_resolution(ctx, meeting, partners, held_day, status):
    """A resolution (决议) in ``status``: overdue ones past their deadline, done ones signed off."""
    rng, today = ctx.rng, ctx.today
    if status == "overdue":
        deadline = today - timedelta(days=rng.randint(1, 45))
    elif status == "done":
        deadline = held_day + timedelta(days=rng.randint(7, 60))
    else:
        deadline = today + timedelta(days=rng.randint(5, 60))
    lead = rng.choice(partners)
    resolution = Resolution(
        meeting=meeting, title=ctx.fake.resolution_title(), lead_unit=lead, lead_person=lead.liaison,
        co_units=[u for u in partners if u is not lead][:2], co_owners=ctx.person(),
        deadline=deadline, requirements="按期办结并向社区党委书面反馈，居民满意后销号",
        status=status,
    )
    if status in ("in_progress", "overdue"):
        resolution.progress = rng.choice(PROGRESS_NOTES)
    if status == "done":
        resolution.progress = rng.choice(PROGRESS_NOTES)
        resolution.evidence = rng.choice(EVIDENCE_NOTES)
        resolution.signed_off_at = datetime.combine(min(deadline, today - timedelta(days=1)), time(16, 30))
    ctx.session.add(resolution)
    return resolution


def _minutes(meeting, people, topics, resolution_lines):
    convener, note_taker = people[:2]
    return "\n".join(
        [f"时间：{meeting.held_at:%Y年%m月%d日 %H:%M}", f"地点：{meeting.place}",
         f"主持人：{convener}　记录人：{note_taker}", "议题："]
        + [f"{i}. {topic}" for i, topic in enumerate(topics, start=1)]
        + ["议定事项："] + resolution_lines
    )
