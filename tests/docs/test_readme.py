"""The README stays what a newcomer reads in five minutes: the two commands come first, and no link
in it or in docs/ points at a file that is not there (pages move; links rot silently otherwise)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target) outside code; a target is relative unless it has a scheme or is only an anchor
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _first_section(text: str) -> str:
    """From the title to the first second-level heading."""
    return re.split(r"(?m)^## ", text, maxsplit=1)[0]


def _prose(text: str) -> str:
    """The page without fenced code blocks and inline code, where brackets are not links."""
    text = re.sub(r"(?ms)^```.*?^```", "", text)
    return re.sub(r"`[^`\n]*`", "", text)


def test_the_readme_starts_with_make_dev_and_make_test() -> None:
    first = _first_section((ROOT / "README.md").read_text())
    for command in ("make dev", "make test"):
        assert re.search(rf"(?m)^{command}\b", first), f"README.md's first section does not show `{command}`"


def test_the_readme_links_every_page_in_docs() -> None:
    readme = (ROOT / "README.md").read_text()
    unlinked = [p.name for p in PAGES[1:] if f"(docs/{p.name})" not in readme]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"


def broken_links(page: Path, root: Path = ROOT) -> tuple[list[str], list[str]]:
    """(every link target on the page, the relative ones that name no file inside ``root``: a plain
    clone is all a reader has, so a link may climb out of its folder but never out of the repository)."""
    targets = LINK.findall(_prose(page.read_text()))
    broken = []
    for target in targets:
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL or an anchor on the same page
        path = (page.parent / target.split("#", 1)[0]).resolve()
        if not path.is_file() or not path.is_relative_to(root.resolve()):
            broken.append(target)
    return targets, broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_file(page: Path) -> None:
    _, broken = broken_links(page)
    assert not broken, f"{page.relative_to(ROOT)}: links to missing files {broken}"


def test_the_link_check_is_not_blind(tmp_path: Path) -> None:
    """A link to a missing file is found and reported, and so is one to a file outside the
    repository; one to a file inside it (with an anchor, or up a folder) is not, and brackets in
    code are not links."""
    repo = tmp_path / "repo"
    (repo / "docs").mkdir(parents=True)
    (repo / "there.md").write_text("# There\n")
    (tmp_path / "outside.md").write_text("# Outside\n")
    page = repo / "docs" / "page.md"
    page.write_text(
        "See [the guide](guide.md), [there](../there.md#there), [out](../../outside.md),"
        " [web](https://example.org) and `[not a link](x.md)`.\n\n```\n[nor](y.md)\n```\n"
    )
    targets, broken = broken_links(page, root=repo)
    assert targets == ["guide.md", "../there.md#there", "../../outside.md", "https://example.org"]
    assert broken == ["guide.md", "../../outside.md"]
    assert sum(len(broken_links(p)[0]) for p in PAGES) > 20  # the real pages' links are found too


WORDING_PAGES = [*PAGES, ROOT / "benchmarks" / "README.md"]


@pytest.mark.parametrize("page", WORDING_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_name_no_machine_of_ours_and_no_issue_of_ours(page: Path) -> None:
    """A reader has no 'this machine' (say which: 'a 2-core machine') and no access to our issue
    tracker; upstream references (pytest#12303, dagster PR #33476) are fine."""
    text = page.read_text()
    found = re.findall(r"(?i)\bthis (?:\d-core )?machine\b|(?<![\w#])issues? #?\d+", text)
    assert not found, f"{page.relative_to(ROOT)}: {found}"
