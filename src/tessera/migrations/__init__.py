"""Alembic environment and the one linear migration history (core and modules)."""
