"""The demo district (``flask --app app gongjian seed-demo``): invented data shaped like the field
figures of DOMAIN.md, and the contract's demo users.

Everything is written through the ORM, so the session hooks run exactly as in production: area
paths and ``community_id`` are derived (app/core/area_tree.py), every record gets its audit entry
(app/core/audit.py). The caller acts as the system (``acting_as(None, via="cli")``).

At scale 1 the district has 4 streets, 12 communities, ~120 grids (8–12 per community, some split
into micro-grids), ~100 units of the five types checked in to communities with their co-building
agreements, the three lists, ~1,600 in-service Party members with check-ins, service records,
last year's evaluations, and joint meetings of every type with agenda, minutes and resolutions.
``scale`` multiplies the counts (at least two streets and two communities are always built, since
the demo users community1 and community2 sit in different streets).

The seed is deterministic (a seeded ``FakeData``; dates are relative to today) and idempotent: if
the demo district exists, no business data is added — only missing demo users are created — and
the counts of what exists are returned.
"""
import click
from flask import current_app
from sqlalchemy import func, select

from app.demo.areas import DISTRICT_CODE, DISTRICT_NAME, build_areas
from app.demo.community import build_community
from app.demo.context import DemoContext
from app.demo.members import ID_CARD_REGIONS
from app.demo.unit_reports import build_unit_reports
from app.demo.units import build_units
from app.demo.users import DEMO_USERS, create_demo_users
from app.extensions import db
from app.reference_data import ensure_reference_data
from app.reminders.scan import run_scan
from models import (
    AgendaItem,
    Agreement,
    Area,
    AuditLog,
    Evaluation,
    Meeting,
    MemberCheckin,
    Need,
    PartyMember,
    Project,
    ProjectClaim,
    Resolution,
    Resource,
    ServiceRecord,
    Unit,
    UnitCheckin,
    UnitReport,
)

COUNTED = (
    ("units", Unit), ("unit_checkins", UnitCheckin), ("agreements", Agreement), ("needs", Need),
    ("resources", Resource), ("projects", Project), ("project_claims", ProjectClaim),
    ("party_members", PartyMember), ("member_checkins", MemberCheckin), ("service_records", ServiceRecord),
    ("evaluations", Evaluation), ("meetings", Meeting), ("agenda_items", AgendaItem),
    ("resolutions", Resolution), ("unit_reports", UnitReport), ("audit_entries", AuditLog),
)


def seed_demo(scale=1.0):
    """Build the demo district and the demo users; returns {name: count} of what the database holds.

    Idempotent: when the district exists, nothing is added except missing demo users."""
    if scale <= 0:
        raise click.ClickException("--scale must be positive")
    ensure_reference_data()
    anchors = demo_anchors()
    if anchors is not None:
        click.echo(f"The demo district ({DISTRICT_NAME}, {DISTRICT_CODE}) already exists: no data added.")
    else:
        anchors = build_district(DemoContext(scale))
    created = create_demo_users(*anchors)
    if created:
        run_scan()  # the shipped reminder rules: the demo users find their reminders on first login
    return existing_counts()


def build_district(ctx):
    """Build the whole district; returns the anchors of the demo users (as ``demo_anchors``)."""
    build_areas(ctx)
    build_units(ctx)
    # Unique ID cards for every member, dealt out community by community.
    cards = list(ctx.fake.unique_id_cards(ctx.n_members, region=ID_CARD_REGIONS, birth_year_range=(1961, 2000)))
    per = [0] * len(ctx.communities)
    for i in range(ctx.n_members):
        per[i % len(ctx.communities)] += 1
    start = 0
    for index, community in enumerate(ctx.communities):
        chunk = list(zip(cards[start:start + per[index]], ctx.employer_of[start:start + per[index]]))
        start += per[index]
        build_community(ctx, index, community, chunk)
    build_unit_reports(ctx)
    street1 = ctx.street_ids[0]
    community1 = next(c for c in ctx.communities if c["street_id"] == street1)
    community2 = next(c for c in ctx.communities if c["street_id"] != street1)
    return street1, community1["id"], community2["id"], ctx.unit_ids[0]


def demo_anchors():
    """(street1, community1, community2, liaison unit) ids of an existing demo district, or None."""
    district = db.session.execute(select(Area).where(Area.code == DISTRICT_CODE)).scalar_one_or_none()
    if district is None:
        return None
    streets = db.session.scalars(select(Area).where(Area.parent_id == district.id).order_by(Area.code)).all()
    street1 = streets[0]
    community1 = db.session.scalars(select(Area).where(Area.parent_id == street1.id).order_by(Area.code)).first()
    community2 = db.session.scalars(
        select(Area).where(Area.parent_id.in_([s.id for s in streets[1:]])).order_by(Area.code)).first()
    unit_id = db.session.scalar(
        select(Unit.id).join(UnitCheckin, UnitCheckin.unit_id == Unit.id)
        .where(UnitCheckin.area_id == community1.id, UnitCheckin.status == "confirmed").order_by(Unit.id)
    )
    return street1.id, community1.id, community2.id, unit_id


def existing_counts():
    """Rows of every demo-relevant table (what the CLI prints)."""
    counts = {}
    for level in ("district", "street", "community", "grid", "microgrid"):
        counts[f"areas_{level}"] = db.session.scalar(select(func.count()).select_from(Area).where(Area.level == level))
    for name, model in COUNTED:
        counts[name] = db.session.scalar(select(func.count()).select_from(model))
    sm = current_app.appbuilder.sm
    counts["demo_users"] = sum(1 for name in DEMO_USERS if sm.find_user(username=name) is not None)
    return counts
