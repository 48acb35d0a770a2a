"""Persistence: SQLAlchemy 2 tables, sessions, repository functions, Alembic migrations.

May import :mod:`evals` record types, nothing else of the project.
"""
