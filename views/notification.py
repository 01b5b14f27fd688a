"""In-app notifications (站内消息): the signed-in user's own list, mark read, the bell's unread
count on every page, and the REST resource ``notification``.

Notifications are per user, not per area: every query filters on the signed-in user (a base
filter), so another user's notification answers 404 like a missing one. Reading and marking as
read are the ``can_read`` permission: marking changes only the user's own inbox, never a record."""
from flask import abort, current_app, flash, g, jsonify, redirect, request
from flask_appbuilder import expose
from flask_appbuilder.api import protect, safe
from flask_appbuilder.models.sqla.filters import FilterEqualFunction
from flask_appbuilder.security.decorators import has_access
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from app.core import actor
from app.extensions import db
from models import Notification
from models.base import utcnow
from views.api_base import GongjianApi
from views.base import METHOD_PERMISSIONS, GongjianBaseView
from views.reminder import level_formatter

READ_ROUTES = ("mark_read", "mark_all_read", "unread_count")
PERMISSIONS = {**METHOD_PERMISSIONS, **{name: "read" for name in READ_ROUTES}}
COLUMNS = ["id", "title", "body", "link", "level", "created_at", "read_at"]


def current_user_id():
    return getattr(actor.current_user(), "id", None)


def count_unread(user_id):
    return db.session.execute(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))).scalar_one()


def mark_notifications_read(user_id, ids=None):
    """Mark the user's notifications (these ids, or all) read; returns how many changed."""
    statement = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if ids is not None:
        statement = statement.where(Notification.id.in_(ids))
    changed = db.session.execute(statement.values(read_at=utcnow())
                                 .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return changed


class NotificationView(GongjianBaseView):
    """The user's own notifications; opening one marks it read."""

    model = Notification
    method_permission_name = PERMISSIONS
    include_route_methods = {"list", "show", *READ_ROUTES}
    base_filters = [["user_id", FilterEqualFunction, current_user_id]]
    base_order = ("id", "desc")
    list_columns = ["title", "created_at", "read_at"]
    show_columns = ["title", "body", "link", "level", "created_at", "read_at"]
    search_columns = ["title", "read_at"]
    formatters_columns = {"level": level_formatter}
    list_title = _l("My notifications")

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        mark_notifications_read(current_user_id(), [item.id])
        return super().show(pk)

    @expose("/read/<int:pk>", methods=["POST"])
    @has_access
    def mark_read(self, pk):
        if self.datamodel.get(pk, self._base_filters) is None:
            abort(404)
        mark_notifications_read(current_user_id(), [pk])
        return redirect(request.referrer or self.get_redirect())

    @expose("/read_all", methods=["POST"])
    @has_access
    def mark_all_read(self):
        changed = mark_notifications_read(current_user_id())
        flash(_l("%(count)d notifications marked read", count=changed), "success")
        return redirect(request.referrer or self.get_redirect())

    @expose("/unread_count", methods=["GET"])
    @has_access
    def unread_count(self):
        """The bell's figure, refreshed by app/static/js/notifications.js."""
        return jsonify({"unread": count_unread(current_user_id())})


class NotificationApi(GongjianApi):
    """``/api/v1/notification/``: list and get one's own notifications, mark them read."""

    model = Notification
    resource_name = "notification"
    method_permission_name = PERMISSIONS
    include_route_methods = {"get", "get_list", "info", *READ_ROUTES}
    base_filters = [["user_id", FilterEqualFunction, current_user_id]]
    list_columns = show_columns = COLUMNS
    search_columns = ["read_at", "level", "created_at"]
    order_columns = ["id", "created_at"]

    @expose("/<int:pk>/read", methods=["POST"])
    @protect()
    @safe
    def mark_read(self, pk):
        """Mark one of my notifications read (404 for anyone else's).
        ---
        post:
          parameters:
          - in: path
            schema:
              type: integer
            name: pk
          responses:
            200:
              description: Marked read
            404:
              $ref: '#/components/responses/404'
        """
        if self.datamodel.get(pk, self._base_filters) is None:
            return self.response_404()
        mark_notifications_read(current_user_id(), [pk])
        return self.response(200, unread=count_unread(current_user_id()))

    @expose("/read_all", methods=["POST"])
    @protect()
    @safe
    def mark_all_read(self):
        """Mark all my notifications read.
        ---
        post:
          responses:
            200:
              description: How many were marked
        """
        return self.response(200, marked=mark_notifications_read(current_user_id()), unread=0)

    @expose("/unread_count", methods=["GET"])
    @protect()
    @safe
    def unread_count(self):
        """How many of my notifications are unread.
        ---
        get:
          responses:
            200:
              description: The unread count
        """
        return self.response(200, unread=count_unread(current_user_id()))


def bell():
    """The bell's data for the page being rendered: None when nobody (allowed) is signed in."""
    user = getattr(g, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if not current_app.appbuilder.sm.has_access("can_read", "Notification"):
        return None
    return {"unread": count_unread(user.id), "url": "/notificationview/list/",
            "count_url": "/notificationview/unread_count"}


def install_bell(appbuilder):
    """Make ``gongjian_bell()`` available to every template (app/templates/gongjian/navbar.html);
    register_views runs inside the app context of create_app."""
    current_app.jinja_env.globals["gongjian_bell"] = bell
