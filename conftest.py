"""Fixtures every suite shares (the embedded Postgres, started once per test session)."""

# pytester: tests/e2e/test_harness.py runs the e2e's pytest wiring against a fake cluster.
pytest_plugins = ["talent_shared.testing", "pytester"]
