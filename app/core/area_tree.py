"""Keeps the area tree consistent on every write (one session hook, every path):
materialised paths of areas and their descendants, the area a child record inherits from its
parent record (:data:`AREA_SOURCES`), and the derived ``community_id`` of area-bound records."""
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, update
from sqlalchemy import inspect as sa_inspect

from app.core.refusals import RecordInvalid
from app.extensions import listen_once
from models import (
    CHILD_LEVEL,
    AgendaItem,
    Agreement,
    Area,
    Evaluation,
    MemberCheckin,
    ProjectClaim,
    Resolution,
    ServiceRecord,
    UnitReport,
)
from models.base import AreaMixin

# Where a child record takes its area from when it is given none: its relationships to the
# records it belongs to, tried in order (a service record sits where its member lives, else where
# its unit sits).
AREA_SOURCES = {
    Agreement: ("checkin",),
    UnitReport: ("checkin",),
    MemberCheckin: ("member",),
    Evaluation: ("member",),
    ServiceRecord: ("member", "unit"),
    ProjectClaim: ("project",),
    AgendaItem: ("meeting",),
    Resolution: ("meeting",),
}


def _maintain_area(session, area):
    parent = area.parent or (session.get(Area, area.parent_id) if area.parent_id else None)
    if parent is None and area.level != "district":
        raise RecordInvalid({"parent": [_l("Only a district can have no parent area")]})
    if parent is not None and CHILD_LEVEL.get(parent.level) != area.level:
        raise RecordInvalid({"level": [_l("This level cannot be placed under the chosen parent area")]})
    old_path = area.path
    new_path = f"{parent.path if parent is not None else '/'}{area.code}/"
    if old_path == new_path:
        return
    if parent is not None and parent.path.startswith(old_path or "\0"):
        raise RecordInvalid({"parent": [_l("An area cannot be moved under itself")]})
    area.path = new_path
    if old_path and area not in session.new:
        table = Area.__table__
        session.execute(
            update(table)
            .where(table.c.path.startswith(old_path, autoescape=True), table.c.id != area.id)
            .values(path=func.replace(table.c.path, old_path, new_path))
        )


def area_of(session, obj):
    """The area a record has or is about to have: a newly set relationship wins over the stored
    ``area_id``, which wins over the loaded relationship (pending objects have no id yet)."""
    state = sa_inspect(obj)
    relation = state.attrs["area"].history
    if relation.added:
        return relation.added[0]
    column = state.attrs["area_id"].history
    if column.added:
        return session.get(Area, column.added[0]) if column.added[0] is not None else None
    return obj.area


def _inherit_area(session, obj):
    for source_name in AREA_SOURCES.get(type(obj), ()):
        if area_of(session, obj) is not None:
            return
        source = getattr(obj, source_name, None)
        source_area = area_of(session, source) if source is not None else None
        if source_area is not None:
            obj.area = source_area


def _derive_community(session, obj):
    area = area_of(session, obj)
    community = area.community() if area is not None else None
    if obj.community is not community:
        obj.community = community


def _depth(area):
    """How deep ``area`` hangs; a loop (an area set under itself or its own descendant) stops at
    the first node met twice, and _maintain_area then refuses the move."""
    depth, seen = 0, {id(area)}
    while area.parent is not None and id(area.parent) not in seen:
        depth, area = depth + 1, area.parent
        seen.add(id(area))
    return depth


def maintain(session, flush_context, instances):
    """Session hook: paths of moved areas, inherited areas and derived communities, before the
    scope and audit hooks judge the flush."""
    areas = [obj for obj in list(session.new) + list(session.dirty) if isinstance(obj, Area)]
    for obj in sorted(areas, key=_depth):  # a new child needs its new parent's path first
        _maintain_area(session, obj)
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, AreaMixin):
            _inherit_area(session, obj)
            _derive_community(session, obj)


def install():
    """Register the hook; it must run before the scope and audit hooks."""
    listen_once("before_flush", maintain)
