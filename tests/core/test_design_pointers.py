"""Every pointer from the code into docs/design/ leads somewhere.

Code points back to the design notes ("docs/design/disk.md, invariant 3", "docs/design/
state.md, "Backups""); a renumbered invariant or a renamed section silently strands the
reader. This reads every such pointer in daemons/ and checks that the note exists and holds
the numbered invariant or the section named; it also refuses pointers to documents outside
the repository ("the seed design", "design §11"). Pure text: well under a second.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOTES = REPO / "docs" / "design"
CODE = REPO / "daemons"

POINTER = re.compile(r"docs/design/([a-z][a-z0-9_-]*)\.md(?P<tail>.{0,160})")
INVARIANTS = re.compile(r"^(?:,|;)? ?\(?(?:invariants?|inv\.) (\d+(?:(?:, | and |-)\d+)*)")
SECTIONS = re.compile(r'^(?:, |: | \()(?:procedures? )?"([^"]+)"(?: and "([^"]+)")?')
# Documents that are not in the repository; their facts belong in docs/design/.
OUTSIDE = re.compile(r"§|seed design|seed plan|monitoring plan|design doc", re.IGNORECASE)


def flat(text: str) -> str:
    """The text with wrapped comment and docstring lines joined into one line."""
    return re.sub(r"\s*\n\s*(?:#\s*)?", " ", text)


def sources() -> Iterator[tuple[str, str]]:
    for path in sorted(CODE.rglob("*.py")):
        yield str(path.relative_to(REPO)), flat(path.read_text(encoding="utf-8"))


def invariant_numbers(note: str) -> set[int]:
    """Numbers of the items of the note's "Invariants" section."""
    numbers: set[int] = set()
    inside = False
    for line in note.splitlines():
        if line.startswith("## "):
            inside = "Invariants" in line
        elif inside and (match := re.match(r"(\d+)\. ", line)):
            numbers.add(int(match.group(1)))
    return numbers


def has_section(note: str, title: str) -> bool:
    """A heading, or a procedure's bullet, that starts with `title`."""
    return any(re.match(rf"(?:#+ |- ){re.escape(title)}\b", line) for line in note.splitlines())


def expand(numbers: str) -> list[int]:
    found: list[int] = []
    for part in re.split(r", | and ", numbers):
        low, _, high = part.partition("-")
        found.extend(range(int(low), int(high or low) + 1))
    return found


def broken_pointers() -> Iterator[str]:
    for name, text in sources():
        for match in POINTER.finditer(text):
            note_path = NOTES / f"{match.group(1)}.md"
            where = f"{name}: docs/design/{match.group(1)}.md{match.group('tail')[:40]}"
            if not note_path.exists():
                yield f"{where}: no such note"
                continue
            note = note_path.read_text(encoding="utf-8")
            tail = match.group("tail")
            if (cited := INVARIANTS.match(tail)) is not None:
                missing = set(expand(cited.group(1))) - invariant_numbers(note)
                if missing:
                    yield f"{where}: no invariant {sorted(missing)}"
            elif (titled := SECTIONS.match(tail)) is not None:
                for title in filter(None, titled.groups()):
                    if not has_section(note, title):
                        yield f"{where}: no section {title!r}"


def test_every_design_pointer_leads_to_an_existing_note_and_section() -> None:
    assert list(broken_pointers()) == []


def test_no_pointer_to_a_document_outside_the_repository() -> None:
    outside = [
        f"{name}: ...{text[max(0, m.start() - 40) : m.end() + 20]}..."
        for name, text in sources()
        for m in OUTSIDE.finditer(text)
    ]
    assert outside == []


def test_the_checker_sees_pointers_and_breakage() -> None:
    """The patterns match what the code writes (else the tests above pass vacuously)."""
    pointers = sum(len(POINTER.findall(text)) for _, text in sources())
    assert pointers > 100
    disk = (NOTES / "disk.md").read_text(encoding="utf-8")
    assert {1, 2, 3} <= invariant_numbers(disk)
    assert has_section(disk, "Delete") and not has_section(disk, "Policy")
    assert INVARIANTS.match(", invariants 1 and 4)") is not None
    assert expand("1 and 4") == [1, 4] and expand("2-4") == [2, 3, 4]
    assert SECTIONS.match(', procedure "Delete", step 1') is not None
