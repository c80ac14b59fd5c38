"""Fixtures every suite shares (the embedded Postgres, started once per test session)."""

pytest_plugins = ["talent_shared.testing"]
