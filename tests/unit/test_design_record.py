"""Every citation in the repository leads somewhere in the repository.

Code, tests and docs cite the design record as `DECISIONS.md#d7`, `THREATS.md#t16` or
`ARCHITECTURE.md#...` (optionally with their path, `docs/design/`), and continue a list with `, #d8` or a
range with `–#d12`. This test fails when a file cites a document the repository does not contain (a `.md`
file that is not there, or the documents the project once kept outside it), a decision or threat by a bare
number (`D7`) instead of its anchor, or an anchor the cited document does not define.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECORD = ROOT / "docs" / "design"
SCANNED_DIRS = ("service", "provider", "rules", "proto", "tests", "docs", "examples", ".ci")
SCANNED_FILES = ("README.md", "CHANGELOG.md", "Makefile", "setup.py", "pyproject.toml", "MANIFEST.in")
SKIPPED_PARTS = {"__pycache__", ".terraform", "node_modules"}
# Documents that were never part of the repository, and references to an outside issue tracker.
OUTSIDE = re.compile(
    r"\bSPEC\b|\bDESIGN\b|\b(?:SECURITY|STYLE|DESIGN|SPEC)\.md\b|/work/shared|\b[Ii]ssue \d+|\bfinding \d+"
)
# A decision or threat number that is not an anchor; a Markdown link [D7](...#d7) is fine (checked below).
BARE_NUMBER = re.compile(r"(?<![\w#\[/-])[DT]\d{1,3}\b(?![\w-])")
MD_LINK_TO_RECORD = re.compile(r"\[([DT]\d{1,3})\]\(([^)\s]*(?:DECISIONS|THREATS)\.md)#([dt]\d{1,3})\)")
# DECISIONS.md#d7, docs/design/THREATS.md#t16, ARCHITECTURE.md#the-map; then ", #d8" or "–#d12".
CITATION = re.compile(
    r"(?P<doc>(?:DECISIONS|THREATS|ARCHITECTURE)\.md)(?P<anchors>#[a-z0-9-]+(?:\s*[,–]\s*#[a-z0-9-]+)*)"
)
# A Markdown file named in prose or a link; one right after a quote is data (a path a test writes), not a citation.
MD_FILE = re.compile(r"(?<![\w.$/{\"'-])((?:\.{1,2}/|[\w-]+/)*[\w-]+\.md)\b(?!\.)")
ANCHOR_ID = re.compile(r'<a id="([^"]+)"></a>')


def scanned_files() -> list[Path]:
    paths = [ROOT / name for name in SCANNED_FILES if (ROOT / name).is_file()]
    for folder in SCANNED_DIRS:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and not SKIPPED_PARTS.intersection(path.parts):
                paths.append(path)
    # This file quotes bad citations on purpose, as examples for the checker.
    return [p for p in paths if p != Path(__file__).resolve() and _text(p) is not None]


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors_of(document: Path) -> set[str]:
    text = document.read_text(encoding="utf-8")
    ids = set(ANCHOR_ID.findall(text))
    ids |= {_slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.MULTILINE)}
    return ids


def _expand(anchors: str) -> list[str]:
    """'#d3, #d5–#d7' → ['d3', 'd5', 'd6', 'd7']."""
    names: list[str] = []
    for part in re.split(r"\s*,\s*", anchors):
        ends = [a.lstrip("#") for a in re.split(r"\s*–\s*", part)]
        first, last = re.fullmatch(r"([a-z]+)(\d+)", ends[0]), re.fullmatch(r"([a-z]+)(\d+)", ends[-1])
        if len(ends) == 2 and first and last and first.group(1) == last.group(1):
            names += [f"{first.group(1)}{n}" for n in range(int(first.group(2)), int(last.group(2)) + 1)]
        else:
            names += ends
    return names


def problems(relative: str, text: str, record: dict[str, set[str]], exists) -> list[str]:  # noqa: ANN001
    """What is wrong with the citations of one file: one line per problem, naming the line."""
    found: list[str] = []
    in_record = relative.startswith("docs/design/")
    for number, line in enumerate(text.splitlines(), 1):
        where = f"{relative}:{number}"
        for match in MD_LINK_TO_RECORD.finditer(line):
            label, anchor = match.group(1), match.group(3)
            if label.lower() != anchor:
                found.append(f"{where}: link text {label} points at #{anchor}")
        if in_record:  # links within the document itself: [D20](#d20)
            for anchor in re.findall(r"\]\(#([a-z0-9-]+)\)", line):
                if anchor not in record[Path(relative).name]:
                    found.append(f"{where}: {Path(relative).name} does not define #{anchor}")
        for match in CITATION.finditer(line):
            doc = match.group("doc")
            for anchor in _expand(match.group("anchors")):
                if anchor not in record[doc]:
                    found.append(f"{where}: {doc} does not define #{anchor}")
        plain = MD_LINK_TO_RECORD.sub("", line)
        if match := OUTSIDE.search(plain):
            found.append(f"{where}: cites {match.group(0)!r}, which is not in the repository")
        if not in_record and (match := BARE_NUMBER.search(plain)):
            found.append(f"{where}: bare {match.group(0)}; cite DECISIONS.md#d.. or THREATS.md#t.. instead")
        for match in MD_FILE.finditer(line):
            if not exists(relative, match.group(1)):
                found.append(f"{where}: {match.group(1)} is not in the repository")
    return found


def _exists_in_repository(names: set[str]):  # noqa: ANN202
    def exists(relative: str, reference: str) -> bool:
        if "/" not in reference:
            return reference in names
        here = (ROOT / relative).parent
        return any((base / reference).resolve().is_file() for base in (here, ROOT, ROOT / "docs"))

    return exists


@pytest.fixture(scope="module")
def record() -> dict[str, set[str]]:
    return {name: anchors_of(RECORD / name) for name in ("DECISIONS.md", "THREATS.md", "ARCHITECTURE.md")}


def test_every_citation_in_the_repository_leads_into_the_repository(record: dict[str, set[str]]) -> None:
    files = scanned_files()
    exists = _exists_in_repository({p.name for p in files})
    found = [p for f in files for p in problems(str(f.relative_to(ROOT)), _text(f) or "", record, exists)]
    assert not found, "\n".join(found)


def test_every_decision_and_threat_has_its_anchor_in_order(record: dict[str, set[str]]) -> None:
    for doc, prefix in (("DECISIONS.md", "d"), ("THREATS.md", "t")):
        ids = ANCHOR_ID.findall((RECORD / doc).read_text(encoding="utf-8"))
        numbered = [i for i in ids if re.fullmatch(prefix + r"\d+", i)]
        assert numbered == [f"{prefix}{n}" for n in range(1, len(numbered) + 1)], doc
        assert len(numbered) > 20, doc


KNOWN = {"README.md", "DECISIONS.md", "THREATS.md", "ARCHITECTURE.md"}  # the files the examples below may name


@pytest.mark.parametrize(
    ("where", "text", "complaint"),
    [
        ("service/example.py", "# SPEC B §2.3: toggling the mode", "'SPEC'"),
        ("service/example.py", '"""D19: lowercase the issuer."""', "bare D19"),
        ("service/example.py", "see SECURITY.md row 8", "'SECURITY.md'"),
        ("service/example.py", "(DESIGN: one second)", "'DESIGN'"),
        ("service/example.py", "the matrix of issue 11", "'issue 11'"),
        ("service/example.py", "# DECISIONS.md#d999: no such decision", "DECISIONS.md does not define #d999"),
        ("service/example.py", "# THREATS.md#t4, #t7, #t999", "THREATS.md does not define #t999"),
        ("service/example.py", "(DECISIONS.md#d1–#d99)", "DECISIONS.md does not define #d99"),
        ("service/example.py", "[D5](design/DECISIONS.md#d7)", "link text D5 points at #d7"),
        ("service/example.py", "see docs/missing.md", "docs/missing.md is not in the repository"),
        ("docs/design/THREATS.md", "as [D99](#d99) says", "THREATS.md does not define #d99"),
    ],
)
def test_the_checker_names_each_kind_of_bad_citation(
    record: dict[str, set[str]], where: str, text: str, complaint: str
) -> None:
    found = problems(where, text, record, _exists_in_repository(KNOWN))
    assert any(complaint in problem for problem in found), found


@pytest.mark.parametrize(
    "text",
    [
        "# DECISIONS.md#d19: lowercase and strip one trailing slash",
        "(docs/design/THREATS.md#t4, #t7, #t22)",
        "(DECISIONS.md#d27, #d39–#d44, #d5)",
        "([D20](design/DECISIONS.md#d20))",
        "see ARCHITECTURE.md#the-map and README.md",
    ],
)
def test_the_checker_accepts_citations_into_the_record(record: dict[str, set[str]], text: str) -> None:
    assert problems("service/example.py", text, record, _exists_in_repository(KNOWN)) == []
