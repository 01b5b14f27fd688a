"""The demo district (``flask --app app gongjian seed-demo``): invented data shaped like the field
figures of DOMAIN.md, and the contract's demo users.

Everything is written through the ORM, so the session hooks run exactly as in production: area
paths and ``community_id`` are derived (app/areas.py), every record gets its audit entry
(app/audit.py). The caller acts as the system (``acting_as(None, via="cli")``).

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
from datetime import date, datetime, time, timedelta

import click
from flask import current_app
from sqlalchemy import func, select

from app.extensions import db
from app.fakedata import FakeData

DISTRICT_CODE = "650199"
DISTRICT_NAME = "天山区"
# Region codes of the invented members' ID cards (people live here but were born elsewhere too).
ID_CARD_REGIONS = ("650102", "650103", "650104", "650105", "650106", "620102", "610113", "410105")
SEED = 2026

# username -> (role, first name shown in the UI); the scope rows are set in create_demo_users.
DEMO_USERS = {
    "admin": ("Admin", "系统管理员"),
    "security": ("SecurityAdmin", "安全管理员"),
    "orgdept": ("OrgDept", "组织部"),
    "auditor": ("Auditor", "审计员"),
    "street1": ("StreetAdmin", "街道管理员"),
    "community1": ("CommunityAdmin", "社区管理员"),
    "community2": ("CommunityAdmin", "社区管理员"),
    "liaison1": ("UnitLiaison", "单位联络员"),
}

PARTY_ORG_SUFFIX = {"committee": "委员会", "general_branch": "总支部委员会", "branch": "支部委员会"}
SERVICE_CONTENTS = (
    "楼道卫生清扫", "政策宣讲进楼栋", "独居老人上门探访", "小区夜间安全巡逻", "垃圾分类桶边督导",
    "义务理发", "家电义务维修", "法律咨询坐诊", "反诈知识宣传", "消防隐患排查", "青少年课业辅导",
    "健康义诊", "邻里纠纷调解", "文明养犬劝导", "绿化带补植浇水", "疫苗接种引导", "困难家庭走访慰问",
    "社区文艺排练", "共享单车整理", "小广告清理",
)
UNIT_SERVICE_CONTENTS = (
    "捐赠图书充实社区书屋", "开放单位会议室供居民议事", "组织职工志愿服务队清理卫生死角",
    "资助困难家庭学生", "派出技术人员检修公共设施", "举办职工与居民联谊活动",
)
REJECT_REASONS = (
    "与社区现有项目重复，建议合并申报",
    "内容不够具体，请补充服务时间、地点和对象后重新提交",
    "超出本社区职责范围，建议转街道统筹",
    "所需经费来源不明确，暂不纳入清单",
    "资源提供方尚未完成报到确认",
)
PROGRESS_NOTES = (
    "已联系责任单位，现场查看完毕，正在制定方案",
    "已完成前期入户摸底，等待施工队进场",
    "协调会已召开，相关单位已明确分工",
    "材料已报街道审核，预计下周答复",
)
EVIDENCE_NOTES = (
    "已完成整改，现场照片及居民签字确认单已归档",
    "施工已验收，物业出具验收单，居民满意",
    "责任单位书面回复已收到，问题已销号",
    "网格员回访三户居民，均表示问题已解决",
)
EVALUATION_COMMENTS = (
    "积极参加社区志愿服务，认领岗位履职到位",
    "按时报到，参与活动次数达到要求",
    "参与活动较少，希望今后多到社区服务",
    "全年服务时长突出，群众评价好",
    "报到后未按要求参加活动",
)


def _counts(base, scale):
    return max(1, int(round(base * scale)))


def _add_months(day, months):
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)


def _setting(key, default):
    from models import Setting

    row = db.session.execute(select(Setting.value).where(Setting.key == key)).scalar_one_or_none()
    try:
        return float(row) if row is not None else default
    except ValueError:
        return default


def gender_of(id_card):
    """The gender code the model stores, from the ID card's sequence digit (odd = male)."""
    return "male" if int(id_card[16]) % 2 else "female"


def existing_counts():
    """Rows of every demo-relevant table (what the CLI prints)."""
    from models import (AgendaItem, Agreement, Area, AuditLog, Evaluation, Meeting, MemberCheckin, Need,
                        PartyMember, Project, ProjectClaim, Resolution, Resource, ServiceRecord, Unit, UnitCheckin,
                        UnitReport)

    counts = {}
    for level in ("district", "street", "community", "grid", "microgrid"):
        counts[f"areas_{level}"] = db.session.scalar(select(func.count()).select_from(Area).where(Area.level == level))
    for name, model in (
        ("units", Unit), ("unit_checkins", UnitCheckin), ("agreements", Agreement), ("needs", Need),
        ("resources", Resource), ("projects", Project), ("project_claims", ProjectClaim),
        ("party_members", PartyMember), ("member_checkins", MemberCheckin), ("service_records", ServiceRecord),
        ("evaluations", Evaluation), ("meetings", Meeting), ("agenda_items", AgendaItem),
        ("resolutions", Resolution), ("unit_reports", UnitReport), ("audit_entries", AuditLog),
    ):
        counts[name] = db.session.scalar(select(func.count()).select_from(model))
    sm = current_app.appbuilder.sm
    counts["demo_users"] = sum(1 for name in DEMO_USERS if sm.find_user(username=name) is not None)
    return counts


# ------------------------------------------------------------------------------------------------
# Demo users (shared with bench/seed_large.py)
# ------------------------------------------------------------------------------------------------


def create_demo_users(street_id, community1_id, community2_id, liaison_unit_id, password=None):
    """Create the contract's users that are missing, with their scope rows; returns how many were
    created. ``community1`` must lie in street1, ``community2`` in another street, and the
    liaison's unit must be checked in to community1."""
    from models import Area, Unit, UserScope

    sm = current_app.appbuilder.sm
    password = password or current_app.config["DEMO_PASSWORD"]
    scopes = {
        "street1": {"area": db.session.get(Area, street_id)},
        "community1": {"area": db.session.get(Area, community1_id)},
        "community2": {"area": db.session.get(Area, community2_id)},
        "liaison1": {"unit": db.session.get(Unit, liaison_unit_id)},
    }
    created = 0
    for username, (role_name, first_name) in DEMO_USERS.items():
        user = sm.find_user(username=username)
        if user is None:
            role = sm.find_role(role_name)
            if role is None:
                raise click.ClickException(f"No role {role_name!r}; run `flask --app app gongjian init` first")
            user = sm.add_user(username, first_name, username, f"{username}@demo.gongjian.invalid", role, password)
            if not user:
                raise click.ClickException(f"Could not create the demo user {username!r} (see the log)")
            created += 1
        if username in scopes and db.session.execute(
            select(UserScope.id).where(UserScope.user_id == user.id)
        ).first() is None:
            db.session.add(UserScope(user=user, **scopes[username]))
    db.session.commit()
    return created


# ------------------------------------------------------------------------------------------------
# The district
# ------------------------------------------------------------------------------------------------


class _DemoBuilder:
    def __init__(self, scale):
        from models import GradeOption, MeetingType, PostCategory

        self.scale = scale
        self.fake = FakeData(seed=SEED)
        self.rng = self.fake.rng
        self.today = date.today()
        self.session = db.session
        self.points_per_hour = _setting("points_per_hour", 1.0)
        self.reregister_months = int(_setting("reregister_months", 6))
        # Reference data as plain values (the ORM objects expire at every batch commit).
        self.posts = list(self.session.scalars(select(PostCategory.id).where(PostCategory.active.is_(True))
                                               .order_by(PostCategory.id)))
        self.grades = [dict(row._mapping) for row in self.session.execute(
            select(GradeOption.id, GradeOption.rank, GradeOption.requires_checkin)
            .where(GradeOption.active.is_(True)).order_by(GradeOption.rank.desc()))]
        self.meeting_types = [dict(row._mapping) for row in self.session.execute(
            select(MeetingType.id, MeetingType.name).where(MeetingType.active.is_(True)).order_by(MeetingType.id))]
        self.used_names = set()
        self.used_mobiles = set()

    # -- small helpers --------------------------------------------------------------------------

    def unique(self, make):
        for _ in range(200):
            value = make()
            if value not in self.used_names:
                self.used_names.add(value)
                return value
        raise RuntimeError("could not invent a unique name")

    def mobile(self):
        while True:
            number = self.fake.mobile()
            if number not in self.used_mobiles:
                self.used_mobiles.add(number)
                return number

    def past_day(self, max_days, min_days=0):
        return self.today - timedelta(days=self.rng.randint(min_days, max_days))

    def at(self, day, hour_from=8, hour_to=20):
        return datetime.combine(day, time(self.rng.randint(hour_from, hour_to - 1), self.rng.choice((0, 15, 30, 45))))

    def person(self):
        return self.fake.person_name()

    # -- areas ----------------------------------------------------------------------------------

    def build_areas(self):
        from models import Area

        fake, rng = self.fake, self.rng
        n_streets = max(2, _counts(4, self.scale))
        n_communities = max(n_streets, _counts(12, self.scale))
        # Level by level, flushing each before its children: the area hook derives a child's path
        # from its parent's, which a new parent only has once flushed.
        district = Area(level="district", code=DISTRICT_CODE, name=DISTRICT_NAME, note="演示数据（虚构）")
        self.session.add(district)
        self.session.flush()
        streets = [Area(level="street", code=f"{DISTRICT_CODE}{s + 1:03d}", parent=district,
                        name=self.unique(fake.street_name)) for s in range(n_streets)]
        self.session.add_all(streets)
        self.session.flush()
        communities = []
        for c in range(n_communities):
            street = streets[c % n_streets]
            number = sum(1 for com in communities if com.parent is street) + 1
            grid_figures = [(rng.randint(8, 18), rng.randint(2, 6)) for _ in range(rng.randint(8, 12))]
            community = Area(level="community", code=f"{street.code}{number:03d}", parent=street,
                             name=self.unique(fake.community_name),
                             household_heads=sum(h for h, _ in grid_figures),
                             central_households=sum(c for _, c in grid_figures))
            communities.append(community)
            self.session.add(community)
            self.session.flush()
            grids = []
            for g, (heads, central) in enumerate(grid_figures):
                grids.append(Area(level="grid", code=f"{community.code}{g + 1:03d}", parent=community,
                                  name=f"{community.name}{fake.grid_name(g + 1)}", grid_worker=self.person(),
                                  grid_worker_phone=self.mobile(), household_heads=heads,
                                  central_households=central))
            self.session.add_all(grids)
            self.session.flush()
            for grid in grids:
                if rng.random() < 0.25:  # some large grids are split into micro-grids (微网格)
                    for m in range(rng.randint(2, 4)):
                        building = rng.randint(1, 40)
                        self.session.add(Area(
                            level="microgrid", code=f"{grid.code}{m + 1:02d}", parent=grid,
                            name=f"{grid.name}{building}号楼微网格", grid_worker=self.person(),
                            grid_worker_phone=self.mobile(), household_heads=rng.randint(1, 4),
                            central_households=rng.randint(0, 2)))
            self.session.flush()
        self.session.commit()
        # Plain data from here on: ids and paths survive the batch commits without reloads.
        self.district_id = district.id
        self.street_ids = [s.id for s in streets]
        self.communities = []
        for community in communities:
            rows = self.session.execute(
                select(Area.id, Area.level).where(Area.path.startswith(community.path)).where(Area.id != community.id)
                .order_by(Area.id)
            ).all()
            self.communities.append({
                "id": community.id,
                "name": community.name,
                "street_id": community.parent_id,
                "grids": [r.id for r in rows if r.level == "grid"],
                "homes": [r.id for r in rows],  # where members live: grids and micro-grids
            })

    # -- units, check-ins, agreements, resources --------------------------------------------------

    def build_units(self):
        from models import Agreement, Area, Resource, Unit, UnitCheckin
        from models.unit import UNIT_TYPES

        fake, rng, today = self.fake, self.rng, self.today
        n_units = max(10, _counts(100, self.scale))
        types = UNIT_TYPES.codes
        self.n_members = _counts(1600, self.scale)
        # Employer of every member, decided now so each unit's member count is right.
        weights = [rng.choice((1, 2, 3, 6)) for _ in range(n_units)]
        self.employer_of = [None if rng.random() < 0.04 else idx
                            for idx in rng.choices(range(n_units), weights=weights, k=self.n_members)]
        reported = [0] * n_units
        for idx in self.employer_of:
            if idx is not None:
                reported[idx] += 1
        credit_codes = set()
        units = []
        for i in range(n_units):
            unit_type = types[i % len(types)]
            community = self.communities[i % len(self.communities)]
            name = self.unique(lambda: fake.unit_name(unit_type))
            code = fake.unit_credit_code(unit_type)
            while code in credit_codes:
                code = fake.unit_credit_code(unit_type)
            credit_codes.add(code)
            org_type = "committee" if unit_type in ("organ", "soe") and rng.random() < 0.5 else \
                rng.choice(("general_branch", "branch", "branch"))
            unit = Unit(
                name=name, unit_type=unit_type, credit_code=code,
                area_id=rng.choice([community["id"]] + community["grids"][:3]),
                party_org_name=f"中共{name}{PARTY_ORG_SUFFIX[org_type]}", party_org_type=org_type,
                secretary=self.person(), liaison=self.person(), liaison_phone=self.mobile(),
                member_count=reported[i] + rng.randint(0, 12), address=fake.address(),
            )
            units.append(unit)
        self.session.add_all(units)
        self.session.flush()

        self.unit_ids = [u.id for u in units]
        self.checked_in = {c["id"]: [] for c in self.communities}  # community -> confirmed unit ids
        self.checkin_count = 0
        community_areas = {c["id"]: self.session.get(Area, c["id"]) for c in self.communities}
        for i, unit in enumerate(units):
            home = self.communities[i % len(self.communities)]
            targets = [home]
            if rng.random() < 0.25 and len(self.communities) > 1:  # some units serve a second community
                targets.append(rng.choice([c for c in self.communities if c is not home]))
            for t, community in enumerate(targets):
                if i == 0 and t == 0:
                    status = "confirmed"  # the liaison's unit, checked in to community1
                else:
                    status = rng.choices(("confirmed", "registered", "expired"), weights=(70, 15, 15))[0]
                if i < 3 and t == 0:  # every status early, whatever the scale
                    status = ("confirmed", "registered", "expired")[i]
                registered_on = self.past_day(700, 20) if status != "registered" else self.past_day(25)
                checkin = UnitCheckin(
                    unit=unit, area=community_areas[community["id"]], status=status,
                    slip_no=f"BD{registered_on:%Y}{unit.id:04d}{t}", registered_on=registered_on,
                )
                if status in ("confirmed", "expired"):
                    checkin.confirmed_on = registered_on + timedelta(days=rng.randint(2, 15))
                    checkin.confirmed_by = self.person()
                    checkin.receipt_no = f"HZ{checkin.confirmed_on:%Y}{unit.id:04d}{t}"
                if status == "expired":
                    checkin.note = "共建协议到期，待重新报到"
                self.session.add(checkin)
                self.checkin_count += 1
                if status == "registered":
                    continue
                if status == "confirmed":
                    self.checked_in[community["id"]].append(unit.id)
                # The co-building agreement (共建协议): expired ones for expired check-ins, some
                # confirmed ones expiring within the month, the rest running for a year or more.
                starts_on = checkin.confirmed_on
                if status == "expired":
                    ends_on = today - timedelta(days=rng.randint(5, 120))
                    starts_on = min(starts_on, ends_on - timedelta(days=365))
                elif rng.random() < 0.2 or i == 1:
                    ends_on = today + timedelta(days=rng.randint(3, 30))
                else:
                    ends_on = _add_months(starts_on, rng.choice((24, 36)))
                    if ends_on <= today + timedelta(days=30):
                        ends_on = today + timedelta(days=rng.randint(60, 700))
                self.session.add(Agreement(
                    checkin=checkin, title=f"{unit.name}与{community['name']}共建协议",
                    starts_on=starts_on, ends_on=ends_on, signed_on=starts_on,
                    liaison=unit.liaison, liaison_phone=unit.liaison_phone,
                    content=f"双方围绕{'、'.join(fake.skills(2))}等方面开展共建，每季度报告共建情况。",
                ))
                # The unit's resources list (资源清单) for that community.
                for r in range(rng.randint(1, 2)):
                    self.session.add(self._approval(Resource(
                        unit=unit, area=community_areas[community["id"]], title=fake.resource_title(),
                        category=rng.choice(("venue", "culture", "health", "other", "elderly", "employment")),
                        description=f"{unit.name}可在工作日下班后及周末提供",
                    ), index=i + r))
        self.session.commit()
        for community in self.communities:
            # Every community has at least one partner unit (its meetings need one).
            community["checked_in"] = self.checked_in[community["id"]] or [self.unit_ids[0]]

    def _approval(self, item, index):
        """Put a list item in one of the approval states (rejected ones with a reason)."""
        status = ("approved", "pending", "rejected", "approved", "approved")[index % 5]
        item.status = status
        if status != "pending":
            item.reviewed_by = self.person()
            item.reviewed_at = self.at(self.past_day(90, 1))
        if status == "rejected":
            item.reject_reason = self.rng.choice(REJECT_REASONS)
        return item

    # -- one community: lists, members, service, evaluations, meetings ----------------------------

    def build_community(self, index, community, id_cards):
        from models import Area, Unit

        # Everything this batch refers to is loaded up front, in three queries: a lookup of an
        # object missing from the session would autoflush the pending rows one by one.
        areas = {a.id: a for a in self.session.scalars(
            select(Area).where(Area.id.in_([community["id"]] + community["homes"])))}
        area = areas[community["id"]]
        homes = [areas[area_id] for area_id in community["homes"]]
        self.units = {u.id: u for u in self.session.scalars(select(Unit))}
        projects = self._lists(index, community, area)
        self._members(community, area, homes, id_cards, projects)
        self._meetings(index, community, area, homes)
        self.session.commit()
        self.session.expunge_all()  # memory stays flat: nothing of this community is kept

    def _lists(self, index, community, area):
        from models import Need, Project, ProjectClaim

        fake, rng = self.fake, self.rng
        needs = []
        for n in range(max(3, _counts(10, self.scale))):
            needs.append(self._approval(Need(
                area=area, title=fake.need_title(), category=rng.choice([c for c, _ in _categories()]),
                description=f"{fake.matter()}方面居民反映较多，需要驻区单位和党员支持",
                proposer=self.person(), submitted_on=self.past_day(200, 5),
            ), index=index + n))
        self.session.add_all(needs)
        projects = []
        partners = community["checked_in"]
        for p in range(max(3, _counts(8, self.scale))):
            unit = self.units[rng.choice(partners)]
            starts_on = self.past_day(200, 10)
            project = self._approval(Project(
                area=area, need=rng.choice(needs), title=fake.project_title(unit.name),
                category=rng.choice([c for c, _ in _categories()]), description="项目由驻区单位认领，党员志愿者参与",
                starts_on=starts_on, ends_on=starts_on + timedelta(days=rng.randint(60, 365)),
            ), index=index + p)
            projects.append(project)
            if project.status == "approved":
                self.session.add(ProjectClaim(project=project, unit=unit, claimed_on=starts_on))
        self.session.add_all(projects)
        return [p for p in projects if p.status == "approved"]

    def _members(self, community, area, homes, id_cards, projects):
        from models import Evaluation, MemberCheckin, PartyMember, ProjectClaim, ServiceRecord

        fake, rng, today = self.fake, self.rng, self.today
        any_grade = [g for g in self.grades if not g["requires_checkin"]]
        period = str(today.year - 1)
        grade_weights = {0: 25, 1: 60, 2: 10, 3: 5}
        verifiers = [self.person() for _ in range(3)]
        for id_card, employer_idx in id_cards:
            gender = gender_of(id_card)
            home = rng.choice(homes)
            employer = self.units[self.unit_ids[employer_idx]] if employer_idx is not None else None
            post_id = rng.choice(self.posts) if self.posts and rng.random() < 0.7 else None
            member = PartyMember(
                name=fake.person_name("男" if gender == "male" else "女"), gender=gender, id_card=id_card,
                phone=self.mobile(), employer=employer, area=home,
                party_joined_on=date(int(id_card[6:10]) + rng.randint(20, 35), rng.randint(1, 12), rng.randint(1, 28)),
                skills="、".join(fake.skills()), post_category_id=post_id, preferred_post=fake.post_name(),
                address=fake.address(),
            )
            if member.party_joined_on > today:
                member.party_joined_on = today - timedelta(days=rng.randint(30, 3000))
            self.session.add(member)
            # Check-in (在职党员报到): most confirmed, some registered or expired, some never.
            status = rng.choices(("confirmed", "registered", "expired", None), weights=(68, 10, 10, 12))[0]
            first_day = today - timedelta(days=365)
            if status is not None:
                months = self.reregister_months
                if status == "expired":
                    registered_on = _add_months(today, -months) - timedelta(days=rng.randint(10, 300))
                else:
                    registered_on = today - timedelta(days=rng.randint(1, max(2, months * 30 - 10)))
                checkin = MemberCheckin(
                    member=member, area=home, status=status, card_no=f"BDZ{registered_on:%Y%m}{rng.randint(1000, 9999)}",
                    registered_on=registered_on, post_category_id=post_id,
                )
                if status != "registered":
                    checkin.confirmed_on = registered_on + timedelta(days=rng.randint(1, 10))
                    checkin.valid_until = _add_months(registered_on, months)
                self.session.add(checkin)
                first_day = min(registered_on, today - timedelta(days=30))
            # Service records (服务记录): a few per active member.
            n_services = {"confirmed": rng.randint(2, 8), "expired": rng.randint(1, 5),
                          "registered": rng.randint(0, 2), None: rng.randint(0, 1)}[status]
            for _ in range(n_services):
                served_on = fake.date_between(first_day, today - timedelta(days=1))
                hours = rng.randint(1, 8) / 2
                record = ServiceRecord(
                    member=member, area=home, served_on=served_on, hours=hours,
                    points=hours * self.points_per_hour, content=rng.choice(SERVICE_CONTENTS),
                    project=rng.choice(projects) if projects and rng.random() < 0.3 else None,
                )
                if rng.random() < 0.85:
                    record.verified_by = rng.choice(verifiers)
                    record.verified_on = min(served_on + timedelta(days=rng.randint(0, 7)), today)
                if rng.random() < 0.3:  # QR check-in / check-out
                    record.checked_in_at = self.at(served_on, 8, 17)
                    record.checked_out_at = record.checked_in_at + timedelta(minutes=int(hours * 60))
                self.session.add(record)
            if projects and status == "confirmed" and rng.random() < 0.05:
                self.session.add(ProjectClaim(project=rng.choice(projects), member=member,
                                              claimed_on=self.past_day(60, 1)))
            # Last year's grade (双向反馈): never a grade needing a check-in without one.
            if rng.random() < (0.9 if status else 0.5):
                if status is not None:
                    grade = rng.choices(self.grades, weights=[grade_weights.get(i, 5) for i in range(len(self.grades))])[0]
                else:
                    grade = rng.choice(any_grade) if any_grade else None
                if grade is not None and not (grade["requires_checkin"] and status is None):
                    letter = rng.choice(("draft", "sent", "received"))
                    self.session.add(Evaluation(
                        member=member, period=period, grade_id=grade["id"], comment=rng.choice(EVALUATION_COMMENTS),
                        letter_state=letter,
                        letter_sent_on=date(today.year, 1, 1) + timedelta(days=rng.randint(5, 40))
                        if letter != "draft" else None,
                    ))
        # Units serve too (unit service records at the community).
        for unit_id in community["checked_in"][:8]:
            unit = self.units[unit_id]
            for _ in range(self.rng.randint(1, 3)):
                hours = rng.randint(2, 8) / 2
                self.session.add(ServiceRecord(
                    unit=unit, area=area, served_on=self.past_day(300, 1), hours=hours,
                    points=hours * self.points_per_hour, content=rng.choice(UNIT_SERVICE_CONTENTS),
                    verified_by=rng.choice(verifiers), verified_on=self.past_day(0),
                ))

    def _meetings(self, index, community, area, homes):
        from models import AgendaItem, Meeting, Resolution

        fake, rng, today = self.fake, self.rng, self.today
        grids = [h for h in homes if h.level == "grid"]
        statuses = ("open", "in_progress", "done", "overdue")
        r_index = index
        for t, meeting_type in enumerate(self.meeting_types):
            informal = meeting_type["name"] in ("板凳会", "院坝会", "火塘会")
            for k in range(max(1, _counts(1, self.scale))):
                planned = (t + k + index) % 7 == 6
                held_day = today + timedelta(days=rng.randint(3, 20)) if planned else self.past_day(330, 5)
                meeting_area = rng.choice(grids) if informal and grids else area
                partners = [self.units[u] for u in
                            rng.sample(community["checked_in"], min(len(community["checked_in"]), rng.randint(1, 4)))]
                convener, note_taker = self.person(), self.person()
                meeting = Meeting(
                    meeting_type_id=meeting_type["id"], area=meeting_area, held_at=self.at(held_day, 9, 17),
                    title=f"{meeting_area.name}{held_day.year}年第{k + 1 + t % 3}次{meeting_type['name']}",
                    place=f"{community['name']}党群服务中心{rng.choice(('一楼会议室', '二楼议事厅', '活动室'))}",
                    convener=convener, note_taker=note_taker, units=partners,
                    status="planned" if planned else rng.choice(("held", "minutes_filed", "minutes_filed")),
                )
                people = [convener, note_taker] + [self.person() for _ in range(rng.randint(3, 7))]
                meeting.attendees = "，".join(people + [u.name for u in partners])
                self.session.add(meeting)
                topics = [fake.meeting_topic() for _ in range(rng.randint(2, 4))]
                for seq, topic in enumerate(topics, start=1):
                    self.session.add(AgendaItem(
                        meeting=meeting, seq=seq, title=topic, proposer=rng.choice(people[2:] + [partners[0].name]),
                        discussion=None if planned else "与会人员逐一发言，明确责任单位和完成时限",
                    ))
                if planned:
                    continue
                lines = []
                for r in range(rng.randint(1, 3)):
                    status = statuses[r_index % 4]
                    r_index += 1
                    if status == "overdue":
                        deadline = today - timedelta(days=rng.randint(1, 45))
                    elif status == "done":
                        deadline = held_day + timedelta(days=rng.randint(7, 60))
                    else:
                        deadline = today + timedelta(days=rng.randint(5, 60))
                    lead = rng.choice(partners)
                    resolution = Resolution(
                        meeting=meeting, title=fake.resolution_title(), lead_unit=lead, lead_person=lead.liaison,
                        co_units=[u for u in partners if u is not lead][:2], co_owners=self.person(),
                        deadline=deadline, requirements="按期办结并向社区党委书面反馈，居民满意后销号",
                        status=status,
                    )
                    if status in ("in_progress", "overdue"):
                        resolution.progress = rng.choice(PROGRESS_NOTES)
                    if status == "done":
                        resolution.progress = rng.choice(PROGRESS_NOTES)
                        resolution.evidence = rng.choice(EVIDENCE_NOTES)
                        resolution.signed_off_at = datetime.combine(
                            min(deadline, today - timedelta(days=1)), time(16, 30))
                    self.session.add(resolution)
                    lines.append(f"{r + 1}. {resolution.title}（牵头：{lead.name}，{deadline:%Y年%m月%d日}前完成）")
                if meeting.status == "minutes_filed":
                    meeting.minutes = "\n".join(
                        [f"时间：{meeting.held_at:%Y年%m月%d日 %H:%M}", f"地点：{meeting.place}",
                         f"主持人：{convener}　记录人：{note_taker}", "议题："]
                        + [f"{i}. {topic}" for i, topic in enumerate(topics, start=1)]
                        + ["议定事项："] + lines
                    )

    # -- quarterly co-building reports -------------------------------------------------------------

    def build_reports(self):
        """Most confirmed check-ins reported last quarter and some already this quarter; the rest
        (the liaison's unit among them) are what the ``unit_report_missing`` reminder chases."""
        from app.statistics.definitions import quarter_of
        from models import UnitCheckin

        this_quarter, this_start, _end = quarter_of(self.today)
        last_quarter, _start, last_end = quarter_of(this_start - timedelta(days=1))
        checkins = self.session.scalars(select(UnitCheckin).where(UnitCheckin.status == "confirmed")
                                        .order_by(UnitCheckin.id)).all()
        # Chosen by position, not by chance, so that even a tiny demo has every case; the first
        # check-in is the liaison's unit.
        for index, checkin in enumerate(checkins):
            if checkin.confirmed_on <= last_end and index % 7 != 6:
                submitted_on = min(self.today, last_end + timedelta(days=self.rng.randint(1, 10)))
                self.session.add(self._report(checkin, last_quarter, submitted_on))
            if index % 3 == 1:
                submitted_on = self.today - timedelta(days=self.rng.randint(0, (self.today - this_start).days))
                self.session.add(self._report(checkin, this_quarter, max(submitted_on, checkin.confirmed_on)))
        self.session.commit()

    def _report(self, checkin, quarter, submitted_on):
        from models import UnitReport

        activities = self.rng.randint(1, 6)
        works = "；".join(self.rng.sample(UNIT_SERVICE_CONTENTS, 2))
        return UnitReport(
            checkin=checkin, quarter=quarter, submitted_on=submitted_on, activities=activities,
            members_served=activities * self.rng.randint(3, 12), people_served=activities * self.rng.randint(10, 60),
            summary=f"本季度{checkin.unit.name}在{checkin.area.name}开展共建活动{activities}次：{works}。",
            problems=self.rng.choice(("", "部分活动时间与居民作息冲突，参与人数偏少", "场地和经费需社区协调")) or None,
            next_plan="下季度继续认领社区项目，按需求清单开展服务", submitted_by=checkin.unit.liaison,
        )

    # -- all of it --------------------------------------------------------------------------------

    def build(self):
        self.build_areas()
        self.build_units()
        # Unique ID cards for every member, dealt out community by community.
        cards = list(self.fake.unique_id_cards(self.n_members, region=ID_CARD_REGIONS, birth_year_range=(1961, 2000)))
        per = [0] * len(self.communities)
        for i in range(self.n_members):
            per[i % len(self.communities)] += 1
        start = 0
        for index, community in enumerate(self.communities):
            chunk = list(zip(cards[start:start + per[index]], self.employer_of[start:start + per[index]]))
            start += per[index]
            self.build_community(index, community, chunk)
        self.build_reports()
        street1 = self.street_ids[0]
        community1 = next(c for c in self.communities if c["street_id"] == street1)
        community2 = next(c for c in self.communities if c["street_id"] != street1)
        return street1, community1["id"], community2["id"], self.unit_ids[0]


def _categories():
    from models import LIST_CATEGORIES

    return LIST_CATEGORIES.pairs


def demo_anchors():
    """(street1, community1, community2, liaison unit) ids of an existing demo district, or None."""
    from models import Area, Unit, UnitCheckin

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


def seed_demo(scale=1.0):
    """Build the demo district and the demo users; returns {name: count} of what the database holds.

    Idempotent: when the district exists, nothing is added except missing demo users."""
    from app.reference_data import ensure_reference_data

    if scale <= 0:
        raise click.ClickException("--scale must be positive")
    ensure_reference_data()
    anchors = demo_anchors()
    if anchors is not None:
        click.echo(f"The demo district ({DISTRICT_NAME}, {DISTRICT_CODE}) already exists: no data added.")
    else:
        anchors = _DemoBuilder(scale).build()
    created = create_demo_users(*anchors)
    if created:
        from app.reminders import run_scan

        run_scan()  # the shipped reminder rules: the demo users find their reminders on first login
    return existing_counts()
