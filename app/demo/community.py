"""One community of the demo district, built and committed as one batch: its needs and projects
lists (需求清单, 项目清单; the resources list comes with the units), its members and its meetings.
"""
from datetime import timedelta

from sqlalchemy import select

from app.demo.meetings import build_meetings
from app.demo.members import build_members
from models import LIST_CATEGORIES, Area, Need, Project, ProjectClaim, Unit


def build_community(ctx, index, community, id_cards):
    """The ``index``-th community of ``ctx.communities``, its members holding ``id_cards``
    ((ID card, employer index) pairs)."""
    # Everything this batch refers to is loaded up front, in two queries: a lookup of an object
    # missing from the session would autoflush the pending rows one by one.
    areas = {a.id: a for a in ctx.session.scalars(
        select(Area).where(Area.id.in_([community["id"]] + community["homes"])))}
    area = areas[community["id"]]
    homes = [areas[area_id] for area_id in community["homes"]]
    ctx.units = {u.id: u for u in ctx.session.scalars(select(Unit))}
    projects = build_lists(ctx, index, community, area)
    build_members(ctx, community, area, homes, id_cards, projects)
    build_meetings(ctx, index, community, area, homes)
    ctx.session.commit()
    ctx.session.expunge_all()  # memory stays flat: nothing of this community is kept


def build_lists(ctx, index, community, area):
    """The community's needs and the projects partner units claimed; returns the approved projects."""
    fake, rng = ctx.fake, ctx.rng
    categories = [c for c, _ in LIST_CATEGORIES.pairs]
    needs = []
    for n in range(max(3, ctx.count(10))):
        needs.append(ctx.approval(Need(
            area=area, title=fake.need_title(), category=rng.choice(categories),
            description=f"{fake.matter()}方面居民反映较多，需要驻区单位和党员支持",
            proposer=ctx.person(), submitted_on=ctx.past_day(200, 5),
        ), index=index + n))
    ctx.session.add_all(needs)
    projects = []
    for p in range(max(3, ctx.count(8))):
        unit = ctx.units[rng.choice(community["checked_in"])]
        starts_on = ctx.past_day(200, 10)
        project = ctx.approval(Project(
            area=area, need=rng.choice(needs), title=fake.project_title(unit.name),
            category=rng.choice(categories), description="项目由驻区单位认领，党员志愿者参与",
            starts_on=starts_on, ends_on=starts_on + timedelta(days=rng.randint(60, 365)),
        ), index=index + p)
        projects.append(project)
        if project.status == "approved":
            # Accepted as migration 0018 takes claims made before they were reviewed.
            ctx.session.add(ProjectClaim(project=project, unit=unit, claimed_on=starts_on, status="approved",
                                         reviewed_by="system"))
    ctx.session.add_all(projects)
    return [p for p in projects if p.status == "approved"]
