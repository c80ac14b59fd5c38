"""Fixtures every suite shares (the embedded Postgres, started once per test session)."""

import sys
import types
from pathlib import Path

pytest_plugins = ["talent_shared.testing"]


def _keep_the_standard_librarys_platform() -> None:
    """pytest's importlib mode names ``platform/tests/test_x.py`` ``platform.tests.test_x`` and, to
    import it, binds the folder ``platform/`` as the module ``platform``: the standard library's
    ``platform`` is then gone for the whole session (pytest#12303; hypothesis, dagster and others
    call it). With ``platform.tests`` already registered, pytest never goes up to ``platform``."""
    import platform  # noqa: F401  # the standard library's, before pytest collects anything

    name = "platform.tests"
    if name not in sys.modules:
        tests = types.ModuleType(name, doc="platform/tests: talent-platform's suite (see the root conftest.py)")
        tests.__path__ = [str(Path(__file__).resolve().parent / "platform" / "tests")]
        sys.modules[name] = tests


_keep_the_standard_librarys_platform()
