"""The labelled corpus under tests/gates/corpus/, loaded for tests and the benchmark."""

from __future__ import annotations

import json
from dataclasses import dataclass
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
    return [Planted(r["category"], r["value"], r["text"]) for r in _jsonl("secrets.jsonl")]


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
