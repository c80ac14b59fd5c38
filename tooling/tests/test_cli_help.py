"""What `talent --help`, `talent --version` and every command's help show a user: rendered as a
terminal shows them, without the reST markup the docstrings are written in, with the exit-code table."""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest
import typer
from typer.testing import CliRunner

from talent_platform.cli import EXIT_CODES, EXIT_FAILED, EXIT_OVER_BUDGET, EXIT_USAGE, app, plain_help


def _commands(group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    if hasattr(group, "commands"):  # a group (typer vendors its own click)
        for name, command in group.commands.items():
            found += _commands(command, (*path, name))
    return found


COMMANDS = _commands(typer.main.get_command(app))


def test_every_command_is_covered() -> None:
    names = {" ".join(p) for p in COMMANDS}
    assert {"", "seed", "dev", "local run", "cost estimate", "cost budget", "record show", "db migrate"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "talent")
def test_help_renders_without_rest_markup(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], prog_name="talent", terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "Usage: talent" in result.output
    assert "``" not in result.output, result.output
    assert "\x1b[" not in result.output  # no colour codes when stdout is not a terminal


def test_top_level_help_has_the_exit_code_table() -> None:
    out = CliRunner().invoke(app, ["--help"], terminal_width=100).output
    table = out[out.index("Exit codes:") :]
    for code, meaning in EXIT_CODES:
        assert re.search(rf"^\s*{code}  {re.escape(meaning)}\s*$", table, re.M), (code, table)
    assert len({code for code, _ in EXIT_CODES}) == len(EXIT_CODES)
    assert EXIT_OVER_BUDGET not in (0, EXIT_FAILED, EXIT_USAGE)  # a CI gate tells over budget from a crash


def test_usage_error_exits_2() -> None:
    result = CliRunner().invoke(app, ["cost", "estimate", "--no-such-option"])
    assert result.exit_code == EXIT_USAGE == 2


def test_version_is_the_installed_package_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"talent {version('talent-platform')}\n"


def test_plain_help_joins_paragraph_lines_and_drops_double_backticks() -> None:
    doc = """First line ``talent``
    goes on.

    Second ``x``
    paragraph."""
    assert plain_help(doc) == "First line `talent` goes on.\n\nSecond `x` paragraph."


def test_the_cli_page_documents_the_same_exit_codes() -> None:
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    rows = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", page, re.M))
    assert {int(code): meaning.replace("`", "") for code, meaning in rows.items()} == dict(EXIT_CODES)
