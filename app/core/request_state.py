"""Each request keeps its own state, whatever FAB shares between requests.

FAB builds each view once and serves every request with it, and keeps two kinds of per-request
state on shared objects:

* **The filters of a list** (``view._filters``, screens and API alike): each request clears them
  and adds its own, then queries with them. Two lists requested at the same moment mixed their
  filters: one user's page came back filtered by the other's search. :func:`filters_per_thread`
  gives each thread its own copy.
* **The record being loaded.** FAB builds one marshmallow-sqlalchemy schema per REST view and uses
  it for every request. That schema keeps the state of a load on itself: the record being edited (``instance``, set by
``load(instance=…)`` and cleared in a ``finally``), the session, the transient flag. Two requests
loading at the same moment therefore share them: one PUT's fields were written into the record
another PUT was editing (in the other request's session: a 500, or the wrong row changed, out of
the writer's scope), and one request's ``finally`` cleared the other's record, so the other's
fields went into a new row. :func:`load_state_per_thread` keeps that state per thread.

Per thread is per request: each request runs in its own thread under waitress, Flask's server and
the test client alike. :func:`request_state_per_thread` applies both to every registered view.
"""
import copy
import threading

__all__ = ["LOAD_STATE", "LOADING_SCHEMAS", "PerThreadFilters", "filters_per_thread",
           "has_load_state_per_thread", "load_state_per_thread", "request_state_per_thread"]

# The attributes marshmallow-sqlalchemy's LoadInstanceMixin keeps on the schema during a load.
LOAD_STATE = ("instance", "_session", "_transient")
# The schemas of a FAB REST view that load a request body into a record.
LOADING_SCHEMAS = ("add_model_schema", "edit_model_schema")


class _PerThread:
    """A data descriptor: the attribute's value is the calling thread's, None until it sets one."""

    def __init__(self, name):
        self.name = name

    def __get__(self, schema, owner=None):
        if schema is None:
            return self
        return getattr(_state_of(schema), self.name, None)

    def __set__(self, schema, value):
        setattr(_state_of(schema), self.name, value)


def _state_of(schema):
    state = schema.__dict__.get("_load_state")
    if state is None:  # set once, while the app is built, before any request thread runs
        state = schema.__dict__.setdefault("_load_state", threading.local())
    return state


_CLASSES = {}


def _per_thread_class(cls):
    if cls not in _CLASSES:
        namespace = {name: _PerThread(name) for name in LOAD_STATE}
        namespace["__doc__"] = cls.__doc__
        _CLASSES[cls] = type(cls.__name__, (cls,), namespace)
    return _CLASSES[cls]


def load_state_per_thread(schema):
    """Make ``schema`` (an instance, shared by requests) keep its load state per thread. The
    values it holds now (set by its constructor, FAB passes none) become every thread's start:
    None, as marshmallow-sqlalchemy's own defaults."""
    if schema is None or has_load_state_per_thread(schema) or not hasattr(schema, "_load_instance"):
        return schema
    for name in LOAD_STATE:
        schema.__dict__.pop(name, None)
    schema.__class__ = _per_thread_class(type(schema))
    _state_of(schema)
    return schema


def has_load_state_per_thread(schema):
    """Whether ``schema`` keeps its load state per thread (or has none to keep)."""
    if not hasattr(schema, "_load_instance"):
        return True
    return all(isinstance(type(schema).__dict__.get(name), _PerThread) for name in LOAD_STATE)



class PerThreadFilters:
    """Stands for a view's FAB ``Filters``: every attribute is read from the calling thread's own
    copy of it, made from the view's at first use with no filter set."""

    def __init__(self, template):
        self.__dict__["_template"] = template
        self.__dict__["_local"] = threading.local()

    def own(self):
        """The calling thread's copy."""
        local = self.__dict__["_local"]
        filters = getattr(local, "filters", None)
        if filters is None:
            filters = copy.copy(self.__dict__["_template"])
            filters.filters, filters.values = [], []
            local.filters = filters
        return filters

    def __getattr__(self, name):
        return getattr(self.own(), name)

    def __setattr__(self, name, value):
        setattr(self.own(), name, value)


def filters_per_thread(view):
    """Give ``view`` (a screen or an API) a :class:`PerThreadFilters` for its list filters."""
    filters = getattr(view, "_filters", None)
    if filters is not None and not isinstance(filters, PerThreadFilters):
        view._filters = PerThreadFilters(filters)
    return view


def request_state_per_thread(views):
    """Make every view of ``views`` (FAB's ``appbuilder.baseviews``: ours and FAB's security views
    and API alike) keep its list filters and its load schemas' state per thread."""
    for view in views:
        filters_per_thread(view)
        for name in LOADING_SCHEMAS:
            load_state_per_thread(getattr(view, name, None))
