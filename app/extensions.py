"""Extension singletons, initialised per app in create_app (Superset's extensions module)."""
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()
migrate = Migrate()
