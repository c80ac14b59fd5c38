"""The folder ``platform/`` does not shadow the standard library's ``platform`` module in a test
session (pytest's importlib mode would bind it, see the root conftest.py)."""

import platform
import sys


def test_the_standard_librarys_platform_module_is_intact() -> None:
    assert platform.python_implementation() == "CPython"
    assert sys.modules["platform"] is platform and platform.__file__ and platform.__file__.endswith("platform.py")
    assert __name__ == "platform.tests.test_stdlib_platform"
