"""Extension singletons, initialised per app in create_app (Superset's extensions module)."""
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

db = SQLAlchemy()
migrate = Migrate()
# Every form POST needs its token; FAB exempts its token-authenticated API blueprints.
csrf = CSRFProtect()
