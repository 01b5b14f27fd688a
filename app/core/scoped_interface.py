"""FAB's data interface with the scope (app/core/scope.py) and the field policy applied to every
query it builds: lists, show/edit/delete, related-field choices, filters and ordering. Every
screen and REST API of views/ is built on :class:`ScopedInterface`."""
from flask_appbuilder.exceptions import DatabaseException
from flask_appbuilder.models.sqla.filters import FilterStartsWith, SQLAFilterConverter, get_field_setup_query
from flask_appbuilder.models.sqla.interface import SQLAInterface
from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import selectinload

from app.core import policy
from app.core.errors import database_error_as_refusal
from app.core.scope import restrict


class FilterStartsWithIndexed(FilterStartsWith):
    """"Starts with" that an index can serve (FAB's ILIKE cannot): a range on SQLite, LIKE on
    PostgreSQL (with a text_pattern_ops index). Case-sensitive, which Chinese names do not mind."""

    def apply(self, query, value):
        query, field = get_field_setup_query(query, self.model, self.column_name)
        if not value:
            return query
        if self.datamodel.session.get_bind().dialect.name == "sqlite":
            return query.filter(field >= value, field < value + "\U0010ffff")
        escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return query.filter(field.like(escaped + "%", escape="\\"))


class IndexedFilterConverter(SQLAFilterConverter):
    conversion_table = tuple(
        (test, [FilterStartsWithIndexed if f is FilterStartsWith else f for f in filters])
        for test, filters in SQLAFilterConverter.conversion_table
    )


class ScopedInterface(SQLAInterface):
    """FAB's SQLAlchemy interface with the scope applied to every query it builds.

    FAB's ``get`` (show, edit, delete, actions), ``query`` and its count, the related-field
    choices (``get_related_interface``) and chart grouping all pass through ``apply_filters`` or
    ``_get_base_query``; ``get_related_obj`` is re-done here because FAB bypasses both.
    """

    filter_converter_class = IndexedFilterConverter
    eager_relationships = ()
    deep_page_offset = 5000  # from this offset on, page through ids first

    def _is_deep_page(self, page, page_size, order_column, select_columns):
        if not page or not page_size or page * page_size < self.deep_page_offset:
            return False
        plain_order = not order_column or (order_column in self.list_columns and not self.is_relation(order_column))
        return plain_order and not (select_columns and self.exists_col_to_many(select_columns))

    def __init__(self, obj, session=None, related_via=None):
        super().__init__(obj, session)
        # The relationship a related view filters on, when the model has several to the parent
        # (a community's members are those whose ``community`` is it, not whose grid is).
        self.related_via = related_via

    def get_related_fk(self, model):
        if self.related_via in self.list_properties and self.get_related_model(self.related_via) is model:
            return self.related_via
        return super().get_related_fk(model)

    def get_related_interface(self, col_name):
        # FAB asks once per <option> of a dropdown: keep one interface per column.
        cache = self.__dict__.setdefault("_related_interfaces", {})
        if col_name not in cache:
            cache[col_name] = ScopedInterface(self.get_related_model(col_name))
        return cache[col_name]

    def apply_filters(self, query, filters):
        policy.refuse_personal_filters(self.obj, filters)  # before any SQL runs
        return restrict(super().apply_filters(query, filters), self.obj)

    def apply_order_by(self, query, order_column, order_direction, *args, **kwargs):
        policy.refuse_personal_keys(self.obj, [order_column])
        return super().apply_order_by(query, order_column, order_direction, *args, **kwargs)

    def _get_base_query(self, query, filters=None, order_column="", order_direction=""):
        policy.refuse_personal_filters(self.obj, filters)
        query = restrict(query, self.obj)
        return super()._get_base_query(query, filters, order_column, order_direction)

    def get_related_obj(self, col_name, value):
        model = self.get_related_model(col_name)
        try:
            value = int(value)  # screen filters pass the URL's text; PostgreSQL refuses integer = varchar
        except (TypeError, ValueError):
            return None
        return restrict(self.session.query(model), model).filter(model.id == value).one_or_none()

    def apply_all(self, query, filters=None, order_column="", order_direction="", page=None, page_size=None,
                  select_columns=None, outer_default_load=False):
        """FAB's query, plus: deep pages skip rows on the index alone (a "deferred join": the
        database pages through ids, then reads 20 rows, instead of reading every skipped row), and
        the list's many-to-one columns load in one query each instead of one per row."""
        query = super().apply_all(query, filters, order_column, order_direction, page, page_size,
                                  select_columns, outer_default_load)
        if self._is_deep_page(page, page_size, order_column, select_columns):
            ids = query.with_entities(self.obj.id).subquery()
            query = self.session.query(self.obj).filter(self.obj.id.in_(select(ids.c.id)))
            query = self.apply_order_by(query, order_column, order_direction, add_pk=True)
        if self.eager_relationships:
            query = query.options(*(selectinload(getattr(self.obj, name)) for name in self.eager_relationships))
        return query

    def query_count(self, query, filters=None, select_columns=None):
        """Count without FAB's outer joins for the selected columns: many-to-one outer joins
        cannot change the number of rows, and over 1M rows the join costs seconds."""
        if select_columns and not self.exists_col_to_many(select_columns):
            select_columns = None
        return super().query_count(query, filters, select_columns)

    # A write the database refuses leaves here as the refusal the user is told (app/core/errors.py
    # database_error_as_refusal). FAB would raise the database's error from add (its screens
    # flash str(exc): the SQL) and wrap it in a DatabaseException from edit and delete (its REST
    # API answers "Database exception occurred: <SQL>").
    def add(self, item, commit=True):
        with _database_error():
            super().add(item, commit)

    def edit(self, item, commit=True):
        with _database_error():
            super().edit(item, commit)

    def delete(self, item, commit=True):
        with _database_error():
            super().delete(item, commit)

    def delete_all(self, items):
        with _database_error():
            super().delete_all(items)


class _database_error:  # used as ``with _database_error():``
    """Re-raise the database's refusal of a write (FAB rolled back) as the user's refusal."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, _traceback):
        cause = exc.__cause__ if isinstance(exc, DatabaseException) else exc
        if isinstance(cause, (IntegrityError, DataError)):
            raise database_error_as_refusal(cause) from cause
        return False


class ComputedColumnsInterface(ScopedInterface):
    """A scoped interface whose model also shows columns computed per row in Python (``COMPUTED``:
    column name -> function of the record). They have no SQL column: screens show them, nothing
    selects, orders or filters by them."""

    COMPUTED = {}

    def _get_attr_value(self, item, col):
        if col in self.COMPUTED and isinstance(item, self.obj):
            return self.COMPUTED[col](item)
        return super()._get_attr_value(item, col)

    def is_property(self, col_name):
        return col_name in self.COMPUTED or super().is_property(col_name)

    def is_function(self, col_name):
        return col_name not in self.COMPUTED and super().is_function(col_name)
