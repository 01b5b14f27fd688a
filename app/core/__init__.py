"""The rules that hold everywhere, each in one module that every screen, API, export, task and
CLI command calls (ARCHITECTURE.md: the bottom floor). Modules here import models and libraries,
never a capability or a view."""
