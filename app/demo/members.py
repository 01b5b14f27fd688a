"""The demo district's in-service Party members (在职党员) of one community: their check-ins (报到),
service records (服务记录), project claims and last year's grade (双向反馈); and the service
records of the community's partner units.
"""
from datetime import date, timedelta

from app.demo.context import add_months
from app.demo.phrases import EVALUATION_COMMENTS, SERVICE_CONTENTS, UNIT_SERVICE_CONTENTS
from models import Evaluation, MemberCheckin, PartyMember, ProjectClaim, ServiceRecord

# Region codes of the invented members' ID cards (people live here but were born elsewhere too).
ID_CARD_REGIONS = ("650102", "650103", "650104", "650105", "650106", "620102", "610113", "410105")
GRADE_WEIGHTS = {0: 25, 1: 60, 2: 10, 3: 5}  # by rank, best first; 5 for any further grade


def gender_of(id_card):
    """The gender code the model stores, from the ID card's sequence digit (odd = male)."""
    return "male" if int(id_card[16]) % 2 else "female"


def build_members(ctx, community, area, homes, id_cards, projects):
    """A member for each (ID card, employer index) of ``id_cards``, living in one of ``homes``;
    ``projects`` are the community's approved projects."""
    verifiers = [ctx.person() for _ in range(3)]
    for id_card, employer_idx in id_cards:
        home = ctx.rng.choice(homes)
        post_id, member = _new_member(ctx, id_card, employer_idx, home)
        status, first_day = _check_in(ctx, member, home, post_id)
        _add_services(ctx, member, home, status, first_day, projects, verifiers)
        if projects and status == "confirmed" and ctx.rng.random() < 0.05:
            ctx.session.add(ProjectClaim(project=ctx.rng.choice(projects), member=member,
                                         claimed_on=ctx.past_day(60, 1), status="approved", reviewed_by="system"))
        _add_evaluation(ctx, member, status)
    _add_unit_services(ctx, community, area, verifiers)


def _new_member(ctx, id_card, employer_idx, home):
    fake, rng, today = ctx.fake, ctx.rng, ctx.today
    gender = gender_of(id_card)
    employer = ctx.units[ctx.unit_ids[employer_idx]] if employer_idx is not None else None
    post_id = rng.choice(ctx.posts) if ctx.posts and rng.random() < 0.7 else None
    member = PartyMember(
        name=fake.person_name("男" if gender == "male" else "女"), gender=gender, id_card=id_card,
        phone=ctx.mobile(), employer=employer, area=home,
        party_joined_on=date(int(id_card[6:10]) + rng.randint(20, 35), rng.randint(1, 12), rng.randint(1, 28)),
        skills="、".join(fake.skills()), post_category_id=post_id, preferred_post=fake.post_name(),
        address=fake.address(),
    )
    if member.party_joined_on > today:
        member.party_joined_on = today - timedelta(days=rng.randint(30, 3000))
    ctx.session.add(member)
    return post_id, member


def _check_in(ctx, member, home, post_id):
    """The member's check-in (在职党员报到): most confirmed, some registered or expired, some never.
    Returns its status (None: never checked in) and the first day the member may have served."""
    rng, today = ctx.rng, ctx.today
    status = rng.choices(("confirmed", "registered", "expired", None), weights=(68, 10, 10, 12))[0]
    if status is None:
        return status, today - timedelta(days=365)
    months = ctx.reregister_months
    if status == "expired":
        registered_on = add_months(today, -months) - timedelta(days=rng.randint(10, 300))
    else:
        registered_on = today - timedelta(days=rng.randint(1, max(2, months * 30 - 10)))
    checkin = MemberCheckin(
        member=member, area=home, status=status, card_no=f"BDZ{registered_on:%Y%m}{rng.randint(1000, 9999)}",
        registered_on=registered_on, post_category_id=post_id,
    )
    if status != "registered":
        checkin.confirmed_on = registered_on + timedelta(days=rng.randint(1, 10))
        checkin.valid_until = add_months(registered_on, months)
    ctx.session.add(checkin)
    return status, min(registered_on, today - timedelta(days=30))


def _add_services(ctx, member, home, status, first_day, projects, verifiers):
    """A few service records (服务记录) per active member, most verified, some by QR check-in."""
    rng, today = ctx.rng, ctx.today
    n_services = {"confirmed": rng.randint(2, 8), "expired": rng.randint(1, 5),
                  "registered": rng.randint(0, 2), None: rng.randint(0, 1)}[status]
    for _ in range(n_services):
        served_on = ctx.fake.date_between(first_day, today - timedelta(days=1))
        hours = rng.randint(1, 8) / 2
        record = ServiceRecord(
            member=member, area=home, served_on=served_on, hours=hours,
            points=hours * ctx.points_per_hour, content=rng.choice(SERVICE_CONTENTS),
            project=rng.choice(projects) if projects and rng.random() < 0.3 else None,
        )
        if rng.random() < 0.85:
            record.verified_by = rng.choice(verifiers)
            record.verified_on = min(served_on + timedelta(days=rng.randint(0, 7)), today)
        if rng.random() < 0.3:  # QR check-in / check-out
            record.checked_in_at = ctx.at(served_on, 8, 17)
            record.checked_out_at = record.checked_in_at + timedelta(minutes=int(hours * 60))
        ctx.session.add(record)


def _add_evaluation(ctx, member, status):
    """Last year's grade (双向反馈): never a grade needing a check-in without one."""
    rng, today = ctx.rng, ctx.today
    if rng.random() >= (0.9 if status else 0.5):
        return
    if status is not None:
        grade = rng.choices(ctx.grades, weights=[GRADE_WEIGHTS.get(i, 5) for i in range(len(ctx.grades))])[0]
    else:
        any_grade = [g for g in ctx.grades if not g["requires_checkin"]]
        grade = rng.choice(any_grade) if any_grade else None
    if grade is None or (grade["requires_checkin"] and status is None):
        return
    letter = rng.choice(("draft", "sent", "received"))
    ctx.session.add(Evaluation(
        member=member, period=str(today.year - 1), grade_id=grade["id"], comment=rng.choice(EVALUATION_COMMENTS),
        letter_state=letter,
        letter_sent_on=date(today.year, 1, 1) + timedelta(days=rng.randint(5, 40)) if letter != "draft" else None,
    ))


def _add_unit_services(ctx, community, area, verifiers):
    """Units serve too: service records of the partner units at the community."""
    rng = ctx.rng
    for unit_id in community["checked_in"][:8]:
        unit = ctx.units[unit_id]
        for _ in range(rng.randint(1, 3)):
            hours = rng.randint(2, 8) / 2
            ctx.session.add(ServiceRecord(
                unit=unit, area=area, served_on=ctx.past_day(300, 1), hours=hours,
                points=hours * ctx.points_per_hour, content=rng.choice(UNIT_SERVICE_CONTENTS),
                verified_by=rng.choice(verifiers), verified_on=ctx.past_day(0),
            ))
