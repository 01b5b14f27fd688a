"""The home page: the signed-in user's area with its key counts, computed through the scope."""
from flask import g, redirect, url_for
from flask_appbuilder import IndexView, expose

from app.statistics.definitions import today
from app.statistics.figures import area_summary, quarter_rates


class HomeView(IndexView):
    route_base = ""
    default_view = "index"
    index_template = "gongjian/home.html"

    @expose("/")
    def index(self):
        user = g.user if g.user is not None and g.user.is_authenticated else None
        if user is None:
            return redirect(url_for(self.appbuilder.sm.auth_view.__class__.__name__ + ".login"))
        day = today()  # one day for every figure of the page
        return self.render_template(self.index_template, appbuilder=self.appbuilder,
                                    summary=area_summary(user, day), rates=quarter_rates(user, day))
