"""What a unit liaison (单位联络员) sees: the records of their own unit, as a WHERE clause per
model (``UNIT_SCOPES``, read by app/core/scope.py). Kept together so the liaison's whole view of
the data reads in one place; with it, how a unit reaches an area (where it sits, and where it
checked in: ``unit_area_scope``)."""
from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import aliased

from .area import Area, subtree_area_ids
from .checkin import Agreement, MemberCheckin, UnitCheckin
from .evaluation import Evaluation
from .lists import Project, ProjectClaim, Resource
from .meeting import AgendaItem, Meeting, Resolution, meeting_unit, resolution_co_unit
from .member import PartyMember
from .service import ServiceRecord
from .unit import Unit
from .unit_report import UnitReport


def _members_of(unit_id):
    return select(PartyMember.id).where(PartyMember.employer_id == unit_id).scalar_subquery()


def _meetings_of(unit_id):
    return select(meeting_unit.c.meeting_id).where(meeting_unit.c.unit_id == unit_id).scalar_subquery()


def _in_checked_in_areas(unit_id, area_id_column):
    """``area_id_column`` lies in (or under) an area the unit has checked in to: the communities a
    unit serves are where its liaison may offer resources and claim projects."""
    checked_in = aliased(Area)
    node = aliased(Area)
    return exists().where(
        UnitCheckin.unit_id == unit_id, checked_in.id == UnitCheckin.area_id, node.id == area_id_column,
        node.path.startswith(checked_in.path))


def unit_area_scope(area_path):
    """A unit is in an area's scope when it sits there or has checked in to a community there."""
    ids = subtree_area_ids(area_path)
    return or_(Unit.area_id.in_(ids), Unit.id.in_(select(UnitCheckin.unit_id).where(UnitCheckin.area_id.in_(ids))))


UNIT_SCOPES = {
    Unit: lambda u: Unit.id == u,
    Area: lambda u: _in_checked_in_areas(u, Area.id),
    UnitCheckin: lambda u: UnitCheckin.unit_id == u,
    Agreement: lambda u: Agreement.checkin_id.in_(select(UnitCheckin.id).where(UnitCheckin.unit_id == u)),
    UnitReport: lambda u: UnitReport.unit_id == u,
    Resource: lambda u: Resource.unit_id == u,
    PartyMember: lambda u: PartyMember.employer_id == u,
    MemberCheckin: lambda u: MemberCheckin.member_id.in_(_members_of(u)),
    ServiceRecord: lambda u: or_(ServiceRecord.unit_id == u, ServiceRecord.member_id.in_(_members_of(u))),
    Evaluation: lambda u: Evaluation.member_id.in_(_members_of(u)),
    ProjectClaim: lambda u: or_(ProjectClaim.unit_id == u, ProjectClaim.member_id.in_(_members_of(u))),
    # Liaisons see the approved projects of the communities their unit checked in to (to claim
    # them) and those their unit claimed.
    Project: lambda u: or_(
        and_(Project.status == "approved", _in_checked_in_areas(u, Project.area_id)),
        exists().where(ProjectClaim.project_id == Project.id, ProjectClaim.unit_id == u),
    ),
    Meeting: lambda u: Meeting.id.in_(_meetings_of(u)),
    AgendaItem: lambda u: AgendaItem.meeting_id.in_(_meetings_of(u)),
    Resolution: lambda u: or_(
        Resolution.lead_unit_id == u,
        Resolution.id.in_(select(resolution_co_unit.c.resolution_id).where(resolution_co_unit.c.unit_id == u)),
    ),
}
