"""The administrative tree: district → street/town → community → grid → micro-grid.

Each node keeps a materialised ``path`` of codes ("/650102/650102001/…/") so that a scope check
("is this record inside my subtree?") is a prefix match on an indexed column.
"""
from flask_babel import lazy_gettext as _l
from sqlalchemy import Column, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import relationship

from .base import BusinessModel, Choices

AREA_LEVELS = Choices(
    ("district", _l("District")),
    ("street", _l("Street / town")),
    ("community", _l("Community")),
    ("grid", _l("Grid")),
    ("microgrid", _l("Micro-grid")),
)
# The level a child must have, for each parent level.
CHILD_LEVEL = {"district": "street", "street": "community", "community": "grid", "grid": "microgrid"}


class Area(BusinessModel):
    __tablename__ = "area"

    parent_id = Column(Integer, ForeignKey("area.id"), index=True)
    parent = relationship("Area", remote_side="Area.id", back_populates="children")
    children = relationship("Area", back_populates="parent")
    level = Column(String(20), nullable=False, index=True)
    code = Column(String(32), nullable=False, unique=True)
    name = Column(String(100), nullable=False)
    path = Column(String(400), nullable=False, unique=True)
    grid_worker = Column(String(50))
    grid_worker_phone = Column(String(20))
    household_heads = Column(Integer)  # 联户长
    central_households = Column(Integer)  # 党员中心户
    note = Column(Text)

    def __repr__(self):
        return self.name or self.code

    @property
    def level_label(self):
        return AREA_LEVELS.label(self.level)

    def expected_path(self):
        parent_path = self.parent.path if self.parent is not None else "/"
        return f"{parent_path}{self.code}/"

    def community(self):
        """The community this node is in (itself if it is one), or None above community level."""
        node = self
        while node is not None and node.level not in ("community",):
            node = node.parent
        return node


def subtree_area_ids(area_path):
    """A subquery of the ids of every area under (and including) the node with ``area_path``:
    how the scope (app/core/scope.py) and the models' own area rules reach a subtree."""
    return select(Area.id).where(Area.path.startswith(area_path, autoescape=True)).scalar_subquery()
