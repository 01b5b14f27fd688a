"""Requests at the same moment each get their own list and change their own record, and only it.

FAB shares one schema per REST view between all requests, and marshmallow-sqlalchemy kept the
record being loaded on that schema: two PUTs arriving together could write one writer's fields into
the other's record (a 500, or the wrong row changed, out of the writer's scope), or into a new row.
app/core/request_state.py keeps that state per thread; these tests hold it from the outside (many
writers through the API, both databases) and from the registry (every REST view, ours and FAB's
security API, now and the next one added)."""
import threading

from flask_appbuilder.api import ModelRestApi
from sqlalchemy import func, select

from app.core.filter_values import check_filters
from app.core.request_state import LOADING_SCHEMAS, PerThreadFilters, has_load_state_per_thread
from app.extensions import db
from tests.factories import at_once, units_in

WRITERS = 6


def test_writers_editing_different_records_together_each_change_only_their_own(app, world, api):
    """Six community admins' PUTs at once, each on its own unit with its own values: every answer
    is 200 with that unit, every unit holds exactly what its writer sent, no unit is added."""
    from models import Unit

    ids = units_in(app, world["c1"], "同时编辑单位", WRITERS)
    with app.app_context():
        before = db.session.execute(select(func.count(Unit.id))).scalar_one()
        db.session.remove()
    bodies = [{"member_count": 10 + slot, "address": f"北京市朝阳区望京街道{slot}号"} for slot in range(WRITERS)]
    answers = at_once(app, "PUT", None, api("community1").headers, bodies,
                      urls=[f"/api/v1/unit/{pk}" for pk in ids])
    assert [answer.status_code for answer in answers] == [200] * WRITERS, \
        [answer.get_data(as_text=True)[:300] for answer in answers]
    assert [answer.get_json()["result"]["member_count"] for answer in answers] == [10 + s for s in range(WRITERS)]
    with app.app_context():
        stored = {unit.id: (unit.member_count, unit.address, unit.name)
                  for unit in db.session.scalars(select(Unit).where(Unit.id.in_(ids)))}
        after = db.session.execute(select(func.count(Unit.id))).scalar_one()
        db.session.remove()
    assert stored == {pk: (10 + slot, f"北京市朝阳区望京街道{slot}号", f"同时编辑单位{slot}")
                      for slot, pk in enumerate(ids)}
    assert after == before


def test_lists_requested_together_are_each_filtered_by_their_own_search(app, world, api, monkeypatch):
    """Six searches of the unit list at once, each for another name: each answer lists exactly
    the unit it searched for (FAB kept one set of list filters per view, shared by requests).
    Checking the filter values is slowed down, as on a busy server, so the requests overlap."""
    import time

    import views.api_base

    def slow_check(filters, view=None):
        time.sleep(0.05)
        return check_filters(filters, view)

    monkeypatch.setattr(views.api_base, "check_filters", slow_check)

    units_in(app, world["c1"], "同时查询单位", WRITERS)
    urls = [f"/api/v1/unit/?q=(filters:!((col:name,opr:eq,value:'同时查询单位{slot}')))" for slot in range(WRITERS)]
    answers = at_once(app, "GET", None, api("orgdept").headers, [None] * WRITERS, urls=urls)
    assert [answer.status_code for answer in answers] == [200] * WRITERS
    assert [[row["name"] for row in answer.get_json()["result"]] for answer in answers] == \
        [[f"同时查询单位{slot}"] for slot in range(WRITERS)]


def test_every_views_list_filters_are_per_thread(app):
    """Generated from the registry: every screen and API keeps its list filters per thread."""
    shared = [type(view).__name__ for view in app.appbuilder.baseviews
              if getattr(view, "_filters", None) is not None and not isinstance(view._filters, PerThreadFilters)]
    assert shared == []


def test_every_rest_views_load_schemas_keep_their_state_per_thread(app):
    """Generated from the registry: each REST view's add and edit schemas (which load a body into
    a record) keep the record, session and transient flag per thread."""
    views = [view for view in app.appbuilder.baseviews if isinstance(view, ModelRestApi)]
    assert len(views) > 10 and any(type(view).__module__.startswith("flask_appbuilder") for view in views)
    shared = [f"{type(view).__name__}.{name}" for view in views for name in LOADING_SCHEMAS
              if getattr(view, name, None) is not None and not has_load_state_per_thread(getattr(view, name))]
    assert shared == []


def test_a_schemas_record_being_loaded_is_the_calling_threads_own(app):
    """What one thread sets as the record being loaded, another thread does not see."""
    view = next(view for view in app.appbuilder.baseviews
                if isinstance(view, ModelRestApi) and getattr(view, "edit_model_schema", None) is not None)
    schema = view.edit_model_schema
    seen, ready, done = {}, threading.Event(), threading.Event()

    def other_thread():
        ready.wait(timeout=10)
        seen["other"] = schema.instance
        schema.instance = "the other thread's record"
        done.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    schema.instance = "this thread's record"
    ready.set()
    done.wait(timeout=10)
    thread.join(timeout=10)
    try:
        assert seen["other"] is None
        assert schema.instance == "this thread's record"
    finally:
        schema.instance = None
