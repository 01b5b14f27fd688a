"""FAB screens and REST APIs, one module per domain; the menus and their registration are in
views/menu.py (this package's __init__ imports nothing: every view module runs it first)."""
