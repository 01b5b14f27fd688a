"""Reference data every deployment starts with (all editable by the system admin afterwards)."""
from sqlalchemy import select

from app.extensions import db
from app.reminders.rules import ensure_rules
from models import DEFAULT_SETTINGS, GradeOption, MeetingType, PostCategory, ServiceQuota, Setting

MEETING_TYPES = [
    ("联席会议", "区域党建联席会议"),
    ("圆桌会议", "居委会、业委会、物业公司、驻区单位共商"),
    ("板凳会", "在楼栋、院坝边召开的邻里议事"),
    ("议事会", "居民议事会"),
    ("党建指导物业服务联席会", "物业公司、业委会、派出所、网格员共同参加"),
    ("院坝会", "院落居民议事"),
]
GRADES = [("优秀", 4, True), ("合格", 3, True), ("基本合格", 2, False), ("不合格", 1, False)]
POSTS = ["楼道长", "政策宣传员", "矛盾调解员", "治安巡逻员", "环境监督员", "志愿服务队员"]
QUOTAS = [("季度指标", "quarter", 2, 4, 4), ("年度指标", "year", 4, 50, 60)]


def _ensure(model, key_column, key, **values):
    row = db.session.execute(select(model).where(getattr(model, key_column) == key)).scalar_one_or_none()
    if row is None:
        db.session.add(model(**{key_column: key}, **values))


def ensure_reference_data():
    """Insert the shipped reference rows that are missing; never overwrites an admin's edits."""
    for name, description in MEETING_TYPES:
        _ensure(MeetingType, "name", name, description=description)
    for name, rank, requires_checkin in GRADES:
        _ensure(GradeOption, "name", name, rank=rank, requires_checkin=requires_checkin)
    for name in POSTS:
        _ensure(PostCategory, "name", name)
    for name, period, activities, hours, points in QUOTAS:
        _ensure(ServiceQuota, "name", name, period=period, min_activities=activities, min_hours=hours,
                min_points=points)
    for key, (value, description) in DEFAULT_SETTINGS.items():
        _ensure(Setting, "key", key, value=value, description=str(description))
    ensure_rules()  # the shipped reminder rules (app/reminders/rules.py SHIPPED_RULES)
    db.session.commit()
