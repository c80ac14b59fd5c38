"""Postgres access: connections, migrations and the embedded server for local work."""

from talent_shared.db.connection import connect, database_url

__all__ = ["connect", "database_url"]
