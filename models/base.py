"""Shared model building blocks: the declarative base, choice lists, and the mixins every
business record uses (timestamps, an area for scope, audit participation).

Every business model inherits ``BusinessModel``: it is audited automatically (app/audit.py hooks
the session, so a new model needs no audit code) and, if it carries ``area_id``, scoped
automatically (app/scope.py).
"""
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask_appbuilder import Model
from sqlalchemy import Column, DateTime, ForeignKey, Integer
from sqlalchemy.orm import declared_attr, relationship


LOCAL_TIMEZONE = "Asia/Shanghai"


def utcnow():
    """Naive UTC timestamp: stored UTC everywhere, shown in Asia/Shanghai."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def local_now(now=None):
    """``now`` (naive UTC, default: this moment) as the district's naive local time."""
    now = now or utcnow()
    return now.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(LOCAL_TIMEZONE)).replace(tzinfo=None)


class Choices:
    """An ordered list of (code, translatable label) pairs for a status-like column.

    The code is stored; the label is shown through flask-babel. Codes never change, labels may.
    """

    def __init__(self, *pairs):
        self.pairs = list(pairs)
        self.labels = dict(pairs)

    @property
    def codes(self):
        return [code for code, _label in self.pairs]

    def label(self, code):
        return self.labels.get(code, code)

    def __contains__(self, code):
        return code in self.labels

    def __iter__(self):
        return iter(self.pairs)


class BusinessModel(Model):
    """Base of every audited business record."""

    __abstract__ = True
    __audited__ = True

    id = Column(Integer, primary_key=True)
    created_at = Column(DateTime, default=utcnow, nullable=False)
    updated_at = Column(DateTime, default=utcnow, onupdate=utcnow, nullable=False)

    def __repr__(self):
        return str(getattr(self, "name", None) or getattr(self, "title", None) or f"#{self.id}")


class AreaMixin:
    """The record belongs to an area node; scope filters on ``area_id``.

    ``community_id`` is derived (app/areas.py) from the area so that lists and reports can filter
    and group by community with an index, whatever grid or micro-grid the record sits in.
    A child record may name the relationship it takes its area from in ``__area_from__``.
    """

    __area_from__ = None

    @declared_attr
    def area_id(cls):
        return Column(Integer, ForeignKey("area.id"), nullable=False, index=True)

    @declared_attr
    def area(cls):
        return relationship("Area", foreign_keys=[cls.area_id])

    @declared_attr
    def community_id(cls):
        return Column(Integer, ForeignKey("area.id"), nullable=True, index=True)

    @declared_attr
    def community(cls):
        return relationship("Area", foreign_keys=[cls.community_id])


def schema_objects_for(dialect_name):
    """Alembic ``include_object`` hook: leave out indexes declared for another database only
    (``Index(...).ddl_if(dialect=...)``), which autogenerate would otherwise report missing."""

    def include_object(obj, name, type_, reflected, compare_to):
        ddl_if = getattr(obj, "_ddl_if", None)
        return not (type_ == "index" and ddl_if is not None and ddl_if.dialect
                    and ddl_if.dialect != dialect_name)

    return include_object
