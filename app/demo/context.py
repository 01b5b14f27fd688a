"""What every step of the demo seed shares: the seeded random source, today, the session, the
reference data as plain values, the names and mobile numbers already handed out, and what the
earlier steps built (the communities, the units, who works where).

The seed is deterministic: each step draws from ``ctx.rng`` in a fixed order, so the same scale on
the same day gives the same district.
"""
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from app.demo.fakedata import FakeData
from app.demo.phrases import REJECT_REASONS
from app.extensions import db
from models import GradeOption, MeetingType, PostCategory, Setting

SEED = 2026


def add_months(day, months):
    """The same day ``months`` later (earlier when negative), or the month's last day."""
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)


def setting_number(key, default):
    """A numeric setting of the admin's Settings table, or ``default``."""
    row = db.session.execute(select(Setting.value).where(Setting.key == key)).scalar_one_or_none()
    try:
        return float(row) if row is not None else default
    except ValueError:
        return default


class DemoContext:
    """The state of one seed run.

    Set by the steps as they go: ``district_id``, ``street_ids`` and ``communities`` (plain dicts:
    id, name, street_id, grids, homes, checked_in) by the areas; ``n_members``, ``employer_of``,
    ``unit_ids``, ``checked_in`` and ``checkin_count`` by the units; ``units`` (id -> Unit of the
    current batch) by each community.
    """

    def __init__(self, scale):
        self.scale = scale
        self.fake = FakeData(seed=SEED)
        self.rng = self.fake.rng
        self.today = date.today()
        self.session = db.session
        self.points_per_hour = setting_number("points_per_hour", 1.0)
        self.reregister_months = int(setting_number("reregister_months", 6))
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

    def count(self, base):
        """``base`` at the demo's scale (at least 1)."""
        return max(1, int(round(base * self.scale)))

    def unique(self, make):
        """A value of ``make()`` not handed out before (names of streets, communities, units)."""
        for _ in range(200):
            value = make()
            if value not in self.used_names:
                self.used_names.add(value)
                return value
        raise RuntimeError("could not invent a unique name")

    def mobile(self):
        """A mobile number not handed out before."""
        while True:
            number = self.fake.mobile()
            if number not in self.used_mobiles:
                self.used_mobiles.add(number)
                return number

    def past_day(self, max_days, min_days=0):
        return self.today - timedelta(days=self.rng.randint(min_days, max_days))

    def at(self, day, hour_from=8, hour_to=20):
        """A moment of ``day`` on a quarter hour between ``hour_from`` and ``hour_to``."""
        return datetime.combine(day, time(self.rng.randint(hour_from, hour_to - 1), self.rng.choice((0, 15, 30, 45))))

    def person(self):
        return self.fake.person_name()

    def approval(self, item, index):
        """Put a list item in one of the approval states (rejected ones with a reason)."""
        status = ("approved", "pending", "rejected", "approved", "approved")[index % 5]
        item.status = status
        if status != "pending":
            item.reviewed_by = self.person()
            item.reviewed_at = self.at(self.past_day(90, 1))
        if status == "rejected":
            item.reject_reason = self.rng.choice(REJECT_REASONS)
        return item
