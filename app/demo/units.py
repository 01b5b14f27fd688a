"""The demo district's units (驻区单位) of the five types, their check-ins to communities (报到),
co-building agreements (共建协议) and resources lists (资源清单).

The first unit is the liaison's, confirmed in community1; the first three check-ins have every
status whatever the scale.
"""
from datetime import timedelta

from app.demo.context import add_months
from app.demo.phrases import PARTY_ORG_SUFFIX
from models import Agreement, Area, Resource, Unit, UnitCheckin
from models.unit import UNIT_TYPES


def build_units(ctx):
    """Build the units and their check-ins; decide each member's employer first, so that each
    unit's member count is right."""
    n_units = max(10, ctx.count(100))
    reported = _plan_employers(ctx, n_units)
    credit_codes = set()
    units = [_new_unit(ctx, i, reported[i], credit_codes) for i in range(n_units)]
    ctx.session.add_all(units)
    ctx.session.flush()

    ctx.unit_ids = [u.id for u in units]
    ctx.checked_in = {c["id"]: [] for c in ctx.communities}  # community -> confirmed unit ids
    ctx.checkin_count = 0
    community_areas = {c["id"]: ctx.session.get(Area, c["id"]) for c in ctx.communities}
    for i, unit in enumerate(units):
        home = ctx.communities[i % len(ctx.communities)]
        targets = [home]
        if ctx.rng.random() < 0.25 and len(ctx.communities) > 1:  # some units serve a second community
            targets.append(ctx.rng.choice([c for c in ctx.communities if c is not home]))
        for t, community in enumerate(targets):
            _check_in(ctx, unit, i, t, community, community_areas[community["id"]])
    ctx.session.commit()
    for community in ctx.communities:
        # Every community has at least one partner unit (its meetings need one).
        community["checked_in"] = ctx.checked_in[community["id"]] or [ctx.unit_ids[0]]


def _plan_employers(ctx, n_units):
    """``ctx.employer_of``: the unit index (or None) of every member to come; returns how many
    members each unit has."""
    rng = ctx.rng
    ctx.n_members = ctx.count(1600)
    weights = [rng.choice((1, 2, 3, 6)) for _ in range(n_units)]
    ctx.employer_of = [None if rng.random() < 0.04 else idx
                       for idx in rng.choices(range(n_units), weights=weights, k=ctx.n_members)]
    reported = [0] * n_units
    for idx in ctx.employer_of:
        if idx is not None:
            reported[idx] += 1
    return reported


def _new_unit(ctx, i, members, credit_codes):
    fake, rng = ctx.fake, ctx.rng
    types = UNIT_TYPES.codes
    unit_type = types[i % len(types)]
    community = ctx.communities[i % len(ctx.communities)]
    name = ctx.unique(lambda: fake.unit_name(unit_type))
    code = fake.unit_credit_code(unit_type)
    while code in credit_codes:
        code = fake.unit_credit_code(unit_type)
    credit_codes.add(code)
    org_type = "committee" if unit_type in ("organ", "soe") and rng.random() < 0.5 else \
        rng.choice(("general_branch", "branch", "branch"))
    return Unit(
        name=name, unit_type=unit_type, credit_code=code,
        area_id=rng.choice([community["id"]] + community["grids"][:3]),
        party_org_name=f"中共{name}{PARTY_ORG_SUFFIX[org_type]}", party_org_type=org_type,
        secretary=ctx.person(), liaison=ctx.person(), liaison_phone=ctx.mobile(),
        member_count=members + rng.randint(0, 12), address=fake.address(),
    )


def _check_in(ctx, unit, i, t, community, area):
    """The ``t``-th check-in of the ``i``-th unit, with its agreement and resources unless it is
    only registered."""
    rng = ctx.rng
    if i == 0 and t == 0:
        status = "confirmed"  # the liaison's unit, checked in to community1
    else:
        status = rng.choices(("confirmed", "registered", "expired"), weights=(70, 15, 15))[0]
    if i < 3 and t == 0:  # every status early, whatever the scale
        status = ("confirmed", "registered", "expired")[i]
    registered_on = ctx.past_day(700, 20) if status != "registered" else ctx.past_day(25)
    checkin = UnitCheckin(
        unit=unit, area=area, status=status,
        slip_no=f"BD{registered_on:%Y}{unit.id:04d}{t}", registered_on=registered_on,
    )
    if status in ("confirmed", "expired"):
        checkin.confirmed_on = registered_on + timedelta(days=rng.randint(2, 15))
        checkin.confirmed_by = ctx.person()
        checkin.receipt_no = f"HZ{checkin.confirmed_on:%Y}{unit.id:04d}{t}"
    if status == "expired":
        checkin.note = "共建协议到期，待重新报到"
    ctx.session.add(checkin)
    ctx.checkin_count += 1
    if status == "registered":
        return
    if status == "confirmed":
        ctx.checked_in[community["id"]].append(unit.id)
    _add_agreement(ctx, checkin, unit, i, community)
    # The unit's resources list (资源清单) for that community.
    for r in range(rng.randint(1, 2)):
        ctx.session.add(ctx.approval(Resource(
            unit=unit, area=area, title=ctx.fake.resource_title(),
            category=rng.choice(("venue", "culture", "health", "other", "elderly", "employment")),
            description=f"{unit.name}可在工作日下班后及周末提供",
        ), index=i + r))


def _add_agreement(ctx, checkin, unit, i, community):
    """The co-building agreement (共建协议): expired ones for expired check-ins, some confirmed ones
    expiring within the month, the rest running for a year or more."""
    rng, today = ctx.rng, ctx.today
    starts_on = checkin.confirmed_on
    if checkin.status == "expired":
        ends_on = today - timedelta(days=rng.randint(5, 120))
        starts_on = min(starts_on, ends_on - timedelta(days=365))
    elif rng.random() < 0.2 or i == 1:
        ends_on = today + timedelta(days=rng.randint(3, 30))
    else:
        ends_on = add_months(starts_on, rng.choice((24, 36)))
        if ends_on <= today + timedelta(days=30):
            ends_on = today + timedelta(days=rng.randint(60, 700))
    ctx.session.add(Agreement(
        checkin=checkin, title=f"{unit.name}与{community['name']}共建协议",
        starts_on=starts_on, ends_on=ends_on, signed_on=starts_on,
        liaison=unit.liaison, liaison_phone=unit.liaison_phone,
        content=f"双方围绕{'、'.join(ctx.fake.skills(2))}等方面开展共建，每季度报告共建情况。",
    ))
