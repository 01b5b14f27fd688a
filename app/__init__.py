"""Gongjian (共建). ``app:create_app`` is the application factory (app/factory.py).

The package's floors (ARCHITECTURE.md): app/core holds the rules that hold everywhere, one package
per capability sits above it (statistics, exports, reminders, letters), and app/factory.py wires
them to the views, the tasks and the CLI.
"""


def __getattr__(name):
    """``from app import create_app`` without importing the factory with the package.

    Every module of app/ (and models, through app.core) runs this file first; importing the
    factory here would import every view while the models load.
    """
    if name == "create_app":
        # lazy: the factory imports views and models, which import app.core, whose parent is this package
        from app.factory import create_app

        return create_app
    raise AttributeError(f"module 'app' has no attribute {name!r}")
