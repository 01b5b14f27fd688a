"""The quarterly co-building reports (共建报告) of the demo units: most confirmed check-ins reported
last quarter and some already this quarter; the rest (the liaison's unit among them) are what the
``unit_report_missing`` reminder chases.
"""
from datetime import timedelta

from sqlalchemy import select

from app.demo.phrases import UNIT_SERVICE_CONTENTS
from app.statistics.definitions import quarter_of
from models import UnitCheckin, UnitReport

REPORT_PROBLEMS = ("", "部分活动时间与居民作息冲突，参与人数偏少", "场地和经费需社区协调")


def build_unit_reports(ctx):
    """Chosen by position, not by chance, so that even a tiny demo has every case; the first
    check-in is the liaison's unit."""
    this_quarter, this_start, _end = quarter_of(ctx.today)
    last_quarter, _start, last_end = quarter_of(this_start - timedelta(days=1))
    checkins = ctx.session.scalars(select(UnitCheckin).where(UnitCheckin.status == "confirmed")
                                   .order_by(UnitCheckin.id)).all()
    for index, checkin in enumerate(checkins):
        if checkin.confirmed_on <= last_end and index % 7 != 6:
            submitted_on = min(ctx.today, last_end + timedelta(days=ctx.rng.randint(1, 10)))
            ctx.session.add(_report(ctx, checkin, last_quarter, submitted_on))
        if index % 3 == 1:
            submitted_on = ctx.today - timedelta(days=ctx.rng.randint(0, (ctx.today - this_start).days))
            ctx.session.add(_report(ctx, checkin, this_quarter, max(submitted_on, checkin.confirmed_on)))
    ctx.session.commit()


def _report(ctx, checkin, quarter, submitted_on):
    rng = ctx.rng
    activities = rng.randint(1, 6)
    works = "；".join(rng.sample(UNIT_SERVICE_CONTENTS, 2))
    return UnitReport(
        checkin=checkin, quarter=quarter, submitted_on=submitted_on, activities=activities,
        members_served=activities * rng.randint(3, 12), people_served=activities * rng.randint(10, 60),
        summary=f"本季度{checkin.unit.name}在{checkin.area.name}开展共建活动{activities}次：{works}。",
        problems=rng.choice(REPORT_PROBLEMS) or None,
        next_plan="下季度继续认领社区项目，按需求清单开展服务", submitted_by=checkin.unit.liaison,
    )
