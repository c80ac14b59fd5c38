"""The import boundaries: talent_shared (what every code server installs) never imports the tooling
(talent_platform) nor a code location, and a code location imports neither the tooling nor another
location. import-linter checks every import statement (``[tool.importlinter]`` in the root
pyproject.toml, run by ``make lint``); a module named in a string (``importlib.import_module(...)``)
is invisible to it, so the sources are scanned for those here."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOCATIONS = ("candidates", "jobs", "matching")
SOURCES = {
    "talent_shared": REPO / "shared_lib" / "src" / "talent_shared",
    **{f"talent_{loc}": REPO / "code_locations" / loc / "src" / f"talent_{loc}" for loc in LOCATIONS},
}
# No exception: the suite every entity location runs (talent_shared.testing.EntityLocationSuite)
# gets the location's modules from the location's own test class, not by name.
DYNAMIC_ALLOWED: set[str] = set()
FORBIDDEN = {
    "talent_shared": {"talent_platform", *(f"talent_{loc}" for loc in LOCATIONS)},
    **{f"talent_{loc}": {"talent_platform", *(f"talent_{o}" for o in LOCATIONS if o != loc)} for loc in LOCATIONS},
}


# Calls that import what a bare name names; elsewhere only a dotted or ``module:attr`` path is a
# module reference (a database role may be called ``talent_candidates`` without importing anything).
IMPORTERS = {"import_module", "__import__", "find_spec", "resolve_name", "reload"}


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def named_in_strings(source: str, package: str, *, dynamic_allowed: bool = False) -> list[str]:
    """Module names that ``package``'s code passes to a call as a string, which ``package`` must not
    import: a literal module path in a forbidden package (or a bare forbidden name given to an
    import function), or an f-string starting with ``talent_`` and a substitution
    (``f"talent_{location}.reading"``: any location at all; not flagged when ``dynamic_allowed``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                value = arg.value.strip()
                top = re.split(r"[.:]", value, maxsplit=1)[0]
                if top in FORBIDDEN[package] and (value != top or _callee(node) in IMPORTERS):
                    found.append(f"line {arg.lineno}: {arg.value!r}")
            elif isinstance(arg, ast.JoinedStr) and arg.values:
                head = arg.values[0]
                if isinstance(head, ast.Constant) and isinstance(head.value, str):
                    top = re.split(r"[.:]", head.value, maxsplit=1)[0]
                    dynamic = head.value == "talent_" and len(arg.values) > 1 and not dynamic_allowed
                    if top in FORBIDDEN[package] or dynamic:
                        found.append(f"line {arg.lineno}: {ast.unparse(arg)}")
    return found


def test_import_contracts_are_kept() -> None:
    """``lint-imports``: every import statement, those inside functions included, and indirect
    imports (a location reaching the tooling through talent_shared counts)."""
    tool = Path(sys.executable).parent / "lint-imports"
    if not tool.exists():
        pytest.fail("lint-imports not found: install requirements-dev.txt (import-linter)")
    result = subprocess.run(
        [str(tool), "--no-logo", "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize("package", sorted(SOURCES))
def test_no_forbidden_module_is_named_in_a_string(package: str) -> None:
    files = sorted(SOURCES[package].rglob("*.py"))
    assert files, f"no sources under {SOURCES[package]}"
    problems = {}
    for path in files:
        where = str(path.relative_to(REPO))
        found = named_in_strings(path.read_text(), package, dynamic_allowed=where in DYNAMIC_ALLOWED)
        if found:
            problems[where] = found
    assert not problems, f"{package} names modules it must not import: {problems}"


def test_the_string_scan_finds_what_import_linter_cannot() -> None:
    """What talent_shared's cost estimator did before it moved to talent_platform, and its variants."""
    for code in (
        'importlib.import_module("talent_candidates.reading").candidate_input',
        'import_module(name="talent_platform.cost.estimate")',
        '__import__("talent_jobs")',
        'importlib.import_module(f"talent_{location}.definitions")',
    ):
        assert named_in_strings(code, "talent_shared"), code
    assert not named_in_strings('importlib.import_module("talent_shared.keys")', "talent_shared")
    assert named_in_strings('importlib.import_module("talent_matching.score")', "talent_jobs")
    assert not named_in_strings('resources.files("talent_jobs")', "talent_jobs")
    # a role (or any other thing) that merely shares a package's name is not a module reference
    assert not named_in_strings('Role("talent_candidates", "the candidates code location")', "talent_shared")
    assert named_in_strings('Role("talent_candidates.reading", "x")', "talent_shared")
    allowed = 'importlib.import_module(f"talent_{self.partitions}")'
    assert named_in_strings(allowed, "talent_shared")
    assert not named_in_strings(allowed, "talent_shared", dynamic_allowed=True)
    assert named_in_strings('import_module("talent_jobs")', "talent_shared", dynamic_allowed=True)
