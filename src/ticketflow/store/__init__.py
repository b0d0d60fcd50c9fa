"""Persistence: SQLAlchemy models, database setup and alembic migrations."""
