"""Shared model building blocks: the declarative base, choice lists, and the mixins every
business record uses (timestamps, an area for scope, audit participation).

Every business model inherits ``BusinessModel``: it is audited automatically (app/core/audit.py hooks
the session, so a new model needs no audit code) and, if it carries ``area_id``, scoped
automatically (app/core/scope.py).
"""
from flask_appbuilder import Model
from sqlalchemy import Column, DateTime, ForeignKey, Integer
from sqlalchemy.orm import declared_attr, relationship

from app.core.calendar import utcnow


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

    id = Column(Integer, primary_key=True)
    created_at = Column(DateTime, default=utcnow, nullable=False)
    updated_at = Column(DateTime, default=utcnow, onupdate=utcnow, nullable=False)

    def __repr__(self):
        return str(getattr(self, "name", None) or getattr(self, "title", None) or f"#{self.id}")


class AreaMixin:
    """The record belongs to an area node; scope filters on ``area_id``.

    ``community_id`` is derived (app/core/area_tree.py) from the area so that lists and reports can filter
    and group by community with an index, whatever grid or micro-grid the record sits in.
    A child record takes its area from the record it belongs to when given none (the table of
    which relationship, ``AREA_SOURCES``, is in app/core/area_tree.py).
    """

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
