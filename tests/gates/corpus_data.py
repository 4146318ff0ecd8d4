"""The labelled corpus under tests/gates/corpus/, loaded for tests and the benchmark."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).parent / "corpus"


@dataclass(frozen=True)
class Planted:
    category: str
    value: str
    text: str


@dataclass(frozen=True)
class Document:
    name: str
    text: str
    remove: dict[str, list[tuple[str, str]]]
    keep: list[str]


def _jsonl(name: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in (CORPUS / name).read_text(encoding="utf-8").splitlines() if line]


def policy() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CORPUS / "policy.json").read_text(encoding="utf-8"))
    return data


def secrets() -> list[Planted]:
    rows = [*_jsonl("secrets.jsonl"), *_jsonl("vendor_secrets.jsonl")]
    return [Planted(r["category"], r["value"], r["text"]) for r in rows]


def personal() -> list[Planted]:
    return [Planted(r["category"], r["value"], r["text"]) for r in _jsonl("personal.jsonl")]


def lookalikes() -> list[Planted]:
    return [Planted(r["kind"], r["value"], r["text"]) for r in _jsonl("lookalikes.jsonl")]


def _sentences(name: str) -> list[str]:
    lines = (CORPUS / name).read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def blame() -> list[tuple[str, str]]:
    """(rule, sentence) pairs."""
    return [(rule, sentence) for rule, sentence in (line.split("\t", 1) for line in _sentences("blame.txt"))]


def neutral() -> list[str]:
    return _sentences("neutral.txt")


def documents() -> list[Document]:
    docs: list[Document] = []
    for path in sorted((CORPUS / "documents").glob("*.md")):
        labels = json.loads(path.with_name(path.stem + ".labels.json").read_text(encoding="utf-8"))
        remove = {aud: [(c, v) for c, v in pairs] for aud, pairs in labels["remove"].items()}
        docs.append(Document(path.stem, path.read_text(encoding="utf-8"), remove, list(labels["keep"])))
    return docs


# --- the held-out language set (tests/gates/heldout/): never tuned on -------------------------------------

HELDOUT = Path(__file__).parent / "heldout"


@dataclass(frozen=True)
class Labelled:
    """One held-out line: its pattern or kind, the text as linted, and the words a finding must touch."""

    kind: str
    text: str
    marks: tuple[tuple[int, int], ...] = ()


def _tsv(path: Path) -> list[tuple[str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            kind, text = line.split("\t", 1)
            rows.append((kind, text.replace("\\n", "\n")))
    return rows


def _unmarked(text: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    plain, marks, cursor = "", [], 0
    for match in re.finditer(r"\[\[(.*?)\]\]", text):
        plain += text[cursor : match.start()]
        marks.append((len(plain), len(plain) + len(match.group(1))))
        plain += match.group(1)
        cursor = match.end()
    return plain + text[cursor:], tuple(marks)


def heldout_blame(folder: Path = HELDOUT) -> list[Labelled]:
    return [Labelled(kind, *_unmarked(text)) for kind, text in _tsv(folder / "blame.tsv")]


def heldout_neutral(folder: Path = HELDOUT) -> list[Labelled]:
    return [Labelled(kind, text) for kind, text in _tsv(folder / "neutral.tsv")]


def heldout_policy(folder: Path = HELDOUT) -> dict[str, Any]:
    return tomllib.loads((folder / "policy.toml").read_text(encoding="utf-8"))


@dataclass
class Scores:
    """Blame recall (a line with any finding), located (a finding on the marked words), neutral flagged."""

    blame: int = 0
    flagged: int = 0
    located: int = 0
    neutral: int = 0
    false_positives: list[tuple[str, str]] = field(default_factory=list)
    missed: list[tuple[str, str]] = field(default_factory=list)
    per_kind: dict[str, list[int]] = field(default_factory=dict)  # kind -> [flagged, lines]

    @property
    def recall(self) -> float:
        return self.flagged / self.blame if self.blame else float("nan")

    @property
    def located_share(self) -> float:
        return self.located / self.blame if self.blame else float("nan")

    @property
    def neutral_flagged(self) -> float:
        return len(self.false_positives) / self.neutral if self.neutral else float("nan")


def measure(spans_of: Callable[[str], list[tuple[int, int]]], blame: list[Labelled], neutral: list[Labelled]) -> Scores:
    """Score a linter given as `spans_of(text) -> [(start, end), ...]`, each line linted as its own document."""
    scores = Scores(blame=len(blame), neutral=len(neutral))
    for line in blame:
        spans = spans_of(line.text + "\n")
        counts = scores.per_kind.setdefault(line.kind, [0, 0])
        counts[1] += 1
        if not spans:
            scores.missed.append((line.kind, line.text))
            continue
        scores.flagged += 1
        counts[0] += 1
        if not line.marks or any(s < e2 and s2 < e for s, e in spans for s2, e2 in line.marks):
            scores.located += 1
    for line in neutral:
        if spans_of(line.text + "\n"):
            scores.false_positives.append((line.kind, line.text))
    return scores
