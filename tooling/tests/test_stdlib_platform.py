"""The tooling's folder is ``tooling/``, not ``platform/``: under pytest's importlib mode a root
folder named ``platform`` was bound as the module ``platform`` and hid the standard library's for
the whole session (pytest#12303), which a hack in the root conftest.py used to undo."""

import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_standard_librarys_platform_module_is_intact() -> None:
    assert platform.python_implementation() == "CPython"
    assert sys.modules["platform"] is platform and platform.__file__ and platform.__file__.endswith("platform.py")
    assert __name__ == "tooling.tests.test_stdlib_platform"


def test_no_top_level_folder_shadows_a_standard_library_module() -> None:
    folders = {p.name for p in REPO.iterdir() if p.is_dir() and not p.name.startswith(".")}
    assert not folders & set(sys.stdlib_module_names), folders & set(sys.stdlib_module_names)
