"""docs/decisions.md is the record the code cites: its facts, its sources and its belief table stay consistent."""

from __future__ import annotations

import re
from pathlib import Path

from integ.beliefs import BELIEFS

ROOT = Path(__file__).resolve().parents[2]
DECISIONS = (ROOT / "docs" / "decisions.md").read_text(encoding="utf-8")
FACT = re.compile(r"^- \*\*F(\d+)\.", re.MULTILINE)
CITATION = re.compile(r"decisions\.md F(\d+)")
# The design notes the project started from are not in the repository: a citation must point at docs/decisions.md.
OUTSIDE_CITATION = re.compile(r"DESIGN F[0-9]+")
BELIEF_ROW = re.compile(r"^\| (U\d+) \|.*?\| `(U\d+-[a-z0-9-]+)`", re.MULTILINE)
CITING_DIRS = ("app.py", "bluegreen", "stacks", "lambdas", "scripts", "integ", "sample-app", "tests")


def fact_entries() -> dict[int, str]:
    starts = [(int(match.group(1)), match.start()) for match in FACT.finditer(DECISIONS)]
    ends = [start for _, start in starts[1:]] + [len(DECISIONS)]
    return {number: DECISIONS[start:end] for (number, start), end in zip(starts, ends, strict=True)}


def cited_numbers() -> dict[int, list[str]]:
    cited: dict[int, list[str]] = {}
    for top in CITING_DIRS:
        for path in [ROOT / top] if (ROOT / top).is_file() else (ROOT / top).rglob("*"):
            if path.suffix not in {".py", ".sh", ".md"} or ".venv" in path.parts:
                continue
            for match in CITATION.finditer(path.read_text(encoding="utf-8", errors="replace")):
                cited.setdefault(int(match.group(1)), []).append(str(path.relative_to(ROOT)))
    return cited


def test_facts_are_numbered_one_to_n_without_gaps_or_duplicates():
    numbers = [int(match.group(1)) for match in FACT.finditer(DECISIONS)]
    assert sorted(numbers) == list(range(1, max(numbers) + 1))
    assert max(numbers) >= 26


def test_every_fact_names_its_source():
    missing = [number for number, entry in fact_entries().items() if "*Source" not in entry]
    assert missing == []


def test_every_fact_number_the_code_cites_is_defined():
    defined = set(fact_entries())
    undefined = {number: paths for number, paths in cited_numbers().items() if number not in defined}
    assert undefined == {}


def test_the_belief_table_and_the_kits_checks_are_the_same_list():
    table = BELIEF_ROW.findall(DECISIONS)
    assert table == [(belief.number, belief.check_id) for belief in BELIEFS]


def test_no_code_cites_a_design_document_outside_the_repository():
    stale = [
        str(path.relative_to(ROOT))
        for top in CITING_DIRS
        for path in ([ROOT / top] if (ROOT / top).is_file() else (ROOT / top).rglob("*"))
        if path.suffix in {".py", ".sh", ".md"}
        and ".venv" not in path.parts
        and OUTSIDE_CITATION.search(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert stale == []
