"""Quality gates, measured on the labelled corpus (tests/gates/corpus/): recall and precision per
redaction category, look-alike damage, blame recall and neutral false positives, and throughput,
with baselines measured in the same run.

    .venv/bin/python benchmarks/gates.py [--mb 8]

Baselines: a naive redactor (one regex per category, applied line by line with re.sub — the usual
hand-written approach) and, when it is installed, detect-secrets (a popular secret scanner; it only
detects, so only its detection recall, look-alike hits and scan speed are comparable). detect-secrets
is not a dependency of afterword: `pip install detect-secrets` into the venv to include it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import types
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from afterword.activities.document_gates import MAX_REDACTION_FINDINGS, redact_text
from afterword.gates.lint import linter_for
from afterword.gates.redaction import (
    EXTERNAL_CATEGORIES,
    PERSONAL_CATEGORIES,
    SECRET_CATEGORIES,
    redactor_for,
)
from afterword.policies.gates_schema import Audience

AUDIENCES: tuple[Audience, ...] = ("internal", "external")
CORPUS = Path(__file__).resolve().parents[1] / "tests" / "gates" / "corpus"


def jsonl(name: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in (CORPUS / name).read_text(encoding="utf-8").splitlines() if line]


def sentences(name: str) -> list[str]:
    return [s for s in (CORPUS / name).read_text(encoding="utf-8").splitlines() if s.strip() and not s.startswith("#")]


POLICY: dict[str, Any] = json.loads((CORPUS / "policy.json").read_text(encoding="utf-8"))
SECRETS = jsonl("secrets.jsonl")
PERSONAL = jsonl("personal.jsonl")
LOOKALIKES = jsonl("lookalikes.jsonl")
DOCUMENTS = [
    (p.read_text(encoding="utf-8"), json.loads(p.with_name(p.stem + ".labels.json").read_text(encoding="utf-8")))
    for p in sorted((CORPUS / "documents").glob("*.md"))
]


# --- redaction quality --------------------------------------------------------------------------------


def spans_of(text: str, value: str) -> list[tuple[int, int]]:
    raw, needle = text.encode(), value.encode()
    found, start = [], raw.find(needle)
    while start >= 0:
        found.append((start, start + len(needle)))
        start = raw.find(needle, start + 1)
    return found


def redaction_quality() -> None:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    planted: Counter[str] = Counter()
    removed: Counter[str] = Counter()
    samples: list[tuple[str, str, list[tuple[str, str]]]] = []  # (audience, text, labels)
    for row in SECRETS:
        samples.append(("internal", row["text"], [(row["category"], row["value"])]))
    for row in PERSONAL:
        samples.append(("external", row["text"], [(row["category"], row["value"])]))
    for text, labels in DOCUMENTS:
        for audience in ("internal", "external"):
            samples.append((audience, text, [(c, v) for c, v in labels["remove"][audience]]))
    damaged = 0
    for row in LOOKALIKES:
        for audience in ("internal", "external"):
            result = redactor_for(POLICY, audience).redact(row["text"])  # type: ignore[arg-type]
            fp.update(hit.category for hit in result.hits)
            damaged += result.text != row["text"]
    for text, labels in DOCUMENTS:  # identifiers in whole documents must survive too
        for audience in ("internal", "external"):
            out = redactor_for(POLICY, audience).redact(text).text  # type: ignore[arg-type]
            damaged += sum(1 for value in labels["keep"] if value not in out)
    for audience, text, labels in samples:
        result = redactor_for(POLICY, audience).redact(text)  # type: ignore[arg-type]
        labelled = [(cat, span) for cat, value in labels for span in spans_of(text, value)]
        for category, value in labels:
            planted[category] += 1
            removed[category] += value not in result.text
        for hit in result.hits:
            overlaps = [cat for cat, (s, e) in labelled if s < hit.end and hit.start < e]
            if hit.category in overlaps:
                tp[hit.category] += 1
            else:
                fp[hit.category] += 1
    print("Redaction (afterword): recall = planted values removed; precision = reported spans that are planted")
    print(f"  {'category':22s} {'recall':>14s} {'precision':>16s}")
    for category in (*SECRET_CATEGORIES, *PERSONAL_CATEGORIES, *EXTERNAL_CATEGORIES):
        if not planted[category] and not fp[category]:
            continue
        recall = removed[category] / planted[category] if planted[category] else float("nan")
        reported = tp[category] + fp[category]
        precision = tp[category] / reported if reported else float("nan")
        print(
            f"  {category:22s} {removed[category]:4d}/{planted[category]:<4d} {recall:6.1%}"
            f"  {tp[category]:5d}/{reported:<5d} {precision:6.1%}"
        )
    secret_recall = sum(removed[c] for c in SECRET_CATEGORIES) / sum(planted[c] for c in SECRET_CATEGORIES)
    personal_recall = sum(removed[c] for c in PERSONAL_CATEGORIES) / sum(planted[c] for c in PERSONAL_CATEGORIES)
    print(
        f"  all secrets recall {secret_recall:.1%} (target 100% per category); personal data recall "
        f"{personal_recall:.1%} (target >= 99%)"
    )
    checks = len(LOOKALIKES) * 2 + sum(len(labels["keep"]) * 2 for _, labels in DOCUMENTS)
    print(f"  look-alikes damaged: {damaged} of {checks} (target 0)")


# --- baselines ------------------------------------------------------------------------------------------

NAIVE_PATTERNS = {
    "aws-access-key": r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b",
    "github-token": r"\bgh[pousr]_[A-Za-z0-9]{36,}\b|\bgithub_pat_\w{22,}",
    "slack-token": r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
    "slack-webhook": r"https://hooks\.slack\.com/services/\S+",
    "stripe-key": r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}",
    "google-api-key": r"\bAIza[0-9A-Za-z_-]{35}",
    "npm-token": r"\bnpm_[A-Za-z0-9]{36}\b",
    "jwt": r"\beyJ[\w-]+\.eyJ[\w-]+\.[\w-]*",
    "url-password": r"(?<=://)[^\s:/@]*:[^\s/@]+(?=@)",
    "password-assignment": r"(?i)\b\w*pass(?:word|wd)?\w*\s*[:=]\s*\S+",
    "bearer-token": r"(?i)\bbearer\s+[\w.~+/-]+=*",
    "secret-assignment": r"(?i)\b\w*(?:secret|token|api_?key)\w*\s*[:=]\s*\S+",
    "email": r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
    "ipv4": r"\b(?:\d{1,3}\.){3}\d{1,3}\b",
    "ipv6": r"\b(?:[0-9a-fA-F]{1,4}:){2,7}[0-9a-fA-F]{0,4}\b",
    "phone": r"\+?\d[\d ().-]{7,}\d",
    "card": r"\b(?:\d[ -]?){13,19}\b",
}
NAIVE = [(name, re.compile(rx)) for name, rx in NAIVE_PATTERNS.items()]


def naive_redact(text: str) -> str:
    lines = []
    for line in text.split("\n"):
        for name, rx in NAIVE:
            line = rx.sub(f"[REDACTED:{name}]", line)
        lines.append(line)
    return "\n".join(lines)


def naive_quality() -> None:
    planted: Counter[str] = Counter()
    removed: Counter[str] = Counter()
    for row in [*SECRETS, *PERSONAL]:
        planted[row["category"]] += 1
        removed[row["category"]] += row["value"] not in naive_redact(row["text"])
    damaged = sum(naive_redact(row["text"]) != row["text"] for row in LOOKALIKES)
    secrets = sum(removed[c] for c in SECRET_CATEGORIES) / sum(planted[c] for c in SECRET_CATEGORIES)
    personal = sum(removed[c] for c in PERSONAL_CATEGORIES if c != "person") / sum(
        planted[c] for c in PERSONAL_CATEGORIES if c != "person"
    )
    print(
        f"Naive baseline (per-pattern re.sub per line): secrets recall {secrets:.1%}, personal data recall "
        f"{personal:.1%} (no roster names), look-alikes damaged {damaged} of {len(LOOKALIKES)}"
    )


def detect_secrets_scan(text: str) -> dict[int, list[str]] | None:
    """Line number -> secret types found by detect-secrets' default plugins, or None if not installed."""
    try:
        from detect_secrets.core.secrets_collection import SecretsCollection
        from detect_secrets.settings import default_settings
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "corpus.md"
        path.write_text(text, encoding="utf-8")
        found: dict[int, list[str]] = defaultdict(list)
        with default_settings():
            collection = SecretsCollection()
            collection.scan_file(str(path))
            for _, secret in collection:
                found[int(secret.line_number or 0)].append(secret.type)
    return found


def detect_secrets_quality() -> None:
    rows = [*SECRETS, *PERSONAL]
    lines: list[str] = []
    owner: dict[int, dict[str, str]] = {}
    for row in rows:
        start = len(lines) + 1
        for offset, _ in enumerate(row["text"].split("\n")):
            owner[start + offset] = row
        lines.extend(row["text"].split("\n"))
        lines.append("")
    look_start = len(lines) + 1
    lines.extend(row["text"] for row in LOOKALIKES)
    found = detect_secrets_scan("\n".join(lines) + "\n")
    if found is None:
        print("detect-secrets: not installed (pip install detect-secrets into the venv to compare)")
        return
    detected: set[int] = set()
    for line_number in found:
        if line_number in owner:
            detected.add(id(owner[line_number]))
    per_category: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        per_category[row["category"]][0] += id(row) in detected
        per_category[row["category"]][1] += 1
    look_hits = sum(1 for n in found if n >= look_start)
    secrets = sum(per_category[c][0] for c in SECRET_CATEGORIES) / sum(per_category[c][1] for c in SECRET_CATEGORIES)
    personal = [f"{c} {per_category[c][0]}/{per_category[c][1]}" for c in PERSONAL_CATEGORIES if c != "person"]
    weak = [f"{c} {v[0]}/{v[1]}" for c, v in per_category.items() if c in SECRET_CATEGORIES and v[0] < v[1]]
    print(
        f"detect-secrets 1.5 baseline: secret lines detected {secrets:.1%} (below 100%: {', '.join(weak)}); "
        f"personal data: {', '.join(personal)}; look-alike lines flagged {look_hits} of {len(LOOKALIKES)}"
    )


# --- language quality ----------------------------------------------------------------------------------

# The blameless lint before the rules of issue 21 (people without a roster, exact spans, rule sets per
# language): gates/lint.py at this commit, read back with `git show` in every run.
LINT_BEFORE_COMMIT = "6c470f41e5ad7b1debb590421fe729a9289f2850"
REPO = Path(__file__).resolve().parents[1]
ALEX_VERSION = "11.0.1"


def _corpus_data() -> Any:
    """tests/gates/corpus_data.py (the held-out loader and scorer), loaded by path: tests/ is not a package."""
    spec = importlib.util.spec_from_file_location("gates_corpus_data", REPO / "tests" / "gates" / "corpus_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def lint_before() -> Any | None:
    """The previous lint as a module, or None (with the reason printed) when git cannot give it."""
    try:
        source = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{LINT_BEFORE_COMMIT}:gates/lint.py"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"  (the lint before, {LINT_BEFORE_COMMIT[:10]}, is not available: {exc}; run from a git clone)")
        return None
    module = types.ModuleType("afterword_lint_before")
    sys.modules[module.__name__] = module  # dataclasses look their module up while the class is built
    exec(compile(source, f"{LINT_BEFORE_COMMIT[:10]}:gates/lint.py", "exec"), module.__dict__)
    return module


def _offsets(text: str, line: int | None, column: int | None, end_column: int | None) -> tuple[int, int]:
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    start = starts[(line or 1) - 1] + (column or 1) - 1
    return start, starts[(line or 1) - 1] + end_column - 1 if end_column else start + 1


def alex_spans(lines: list[str]) -> list[list[tuple[int, int]]] | None:
    """alex's warnings for each line (each its own paragraph of one Markdown file), or None when npm is missing.
    alex is installed once into a cache directory (AFTERWORD_BENCH_CACHE, default ~/.cache/afterword)."""
    cache = Path(os.environ.get("AFTERWORD_BENCH_CACHE", Path.home() / ".cache" / "afterword")) / f"alex-{ALEX_VERSION}"
    binary = cache / "node_modules" / ".bin" / "alex"
    if not binary.exists():
        if shutil.which("npm") is None:
            print("  alex: npm is not installed (Debian: apt-get install npm); rerun to include alex")
            return None
        cache.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(cache), f"alex@{ALEX_VERSION}"],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0 or not binary.exists():
            print(f"  alex: `npm install alex@{ALEX_VERSION}` failed: {done.stderr.strip()[-300:]}")
            return None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "lines.md"
        # each line its own paragraph; its line number in the file is 2 * index + 1
        path.write_text("\n\n".join(line.replace("\n", " ") for line in lines) + "\n", encoding="utf-8")
        done = subprocess.run([str(binary), str(path)], capture_output=True, text=True)
    found: list[list[tuple[int, int]]] = [[] for _ in lines]
    for m in re.finditer(r"^\s*(\d+):(\d+)-(\d+):(\d+)\s+warning", done.stderr + done.stdout, re.MULTILINE):
        index = (int(m.group(1)) - 1) // 2
        if 0 <= index < len(lines) and m.group(1) == m.group(3):
            found[index].append((int(m.group(2)) - 1, int(m.group(4)) - 1))
    return found


def language_quality() -> None:
    data = _corpus_data()
    linter = linter_for(POLICY)
    blame = [line.split("\t", 1) for line in sentences("blame.txt")]
    neutral = sentences("neutral.txt")
    flagged = [linter.lint(s + "\n") for _, s in blame]
    recall = sum(1 for f in flagged if f) / len(blame)
    agree = sum(1 for (rule, _), f in zip(blame, flagged, strict=True) if rule in {x.rule for x in f}) / len(blame)
    false_pos = sum(1 for s in neutral if linter.lint(s + "\n")) / len(neutral)
    print(
        f"Blameless lint on the tuning corpus (written with the rules): blame recall {recall:.1%}, same rule as "
        f"labelled {agree:.1%}, neutral flagged {false_pos:.1%} [{len(blame)} blame, {len(neutral)} neutral]"
    )
    older = [line.split("\t", 1)[1] for line in sentences("heldout_blame.txt")], sentences("heldout_neutral.txt")
    print(
        f"  the earlier held-out batches (heldout_*.txt, tuned on since): blame recall "
        f"{sum(1 for s in older[0] if linter.lint(s + chr(10))) / len(older[0]):.1%} of {len(older[0])}, neutral "
        f"flagged {sum(1 for s in older[1] if linter.lint(s + chr(10))) / len(older[1]):.1%} of {len(older[1])}"
    )

    held_blame, held_neutral = data.heldout_blame(), data.heldout_neutral()
    held_policy = data.heldout_policy()
    kinds = sorted({line.kind for line in held_blame})
    print(
        f"\nHeld-out set (tests/gates/heldout/, never tuned on): {len(held_blame)} blaming lines in {len(kinds)} "
        f"patterns, {len(held_neutral)} neutral lines; each line linted as its own document, no roster"
    )
    print("  recall = lines with a finding; located = a finding on the marked words; targets: recall >= 97%, "
          "neutral flagged <= 1%")
    current = linter_for(held_policy)
    contenders: list[tuple[str, Any]] = [
        ("afterword lint (this version)", lambda t: [(h.start, h.end) for h in current.hits(t)])
    ]
    before = lint_before()
    if before is not None:
        old = before.linter_for(held_policy)
        contenders.append(
            (f"lint before ({LINT_BEFORE_COMMIT[:10]})",
             lambda t: [_offsets(t, f.line, f.column, None) for f in old.lint(t)])
        )
    results: list[tuple[str, Any]] = [(name, data.measure(fn, held_blame, held_neutral)) for name, fn in contenders]
    alex = alex_spans([line.text for line in [*held_blame, *held_neutral]])
    if alex is not None:
        by_text = {line.text: spans for line, spans in zip([*held_blame, *held_neutral], alex, strict=True)}
        results.append((f"alex {ALEX_VERSION} (insensitive words)", data.measure(lambda t: by_text.get(t[:-1], []),
                                                                                 held_blame, held_neutral)))
    print(f"  {'':38s} {'recall':>8s} {'located':>8s} {'neutral flagged':>16s}")
    for name, sc in results:
        print(f"  {name:38s} {sc.recall:8.1%} {sc.located_share:8.1%} {sc.neutral_flagged:9.2%} "
              f"({len(sc.false_positives)}/{sc.neutral})")
    print("  recall per pattern: " + ", ".join(
        f"{kind} " + "/".join(f"{sc.per_kind[kind][0]}" for _, sc in results) + f" of {results[0][1].per_kind[kind][1]}"
        for kind in kinds
    ) + f"  ({' / '.join(name.split(' (')[0] for name, _ in results)})")
    # The name lexicon's precision as the lint uses it: of the findings that rest on recognising a person's name
    # (first names, full names), how many are on the blaming line's marked words, over all held-out lines.
    on_names = right = 0
    for line in [*held_blame, *held_neutral]:
        for hit in current.hits(line.text + "\n"):
            if "name" in hit.why and ("first name" in hit.why or "full name" in hit.why):
                on_names += 1
                right += any(hit.start < e and s < hit.end for s, e in line.marks)
    names = current.names
    ambiguous = sum(1 for n in names.names if n.lower() in names.words)
    print(
        f"  people by name: {len(names.names)} first names (gender-guesser), {ambiguous} of them also English words; "
        f"findings that rest on a recognised name: {right}/{on_names} on the marked words "
        f"(precision {right / on_names if on_names else float('nan'):.1%})"
    )
    mine = results[0][1]
    for kind, text in mine.missed:
        print(f"    missed ({kind}): {text}")
    for kind, text in mine.false_positives:
        print(f"    flagged ({kind}): {text}")


# --- throughput -------------------------------------------------------------------------------------------


SECTIONS = ("Root cause analysis", "Detection", "Resolution", "What went poorly", "Lessons learned")


def _postmortems(megabytes: float, rnd: Any, paragraph: Any, extras: Any = None) -> str:
    """Documents of the corpus's shape: a corpus document's head (header table, summary, timeline), then
    each of SECTIONS with 2-4 paragraphs from `paragraph()` and whatever `extras()` adds after them."""
    parts: list[str] = []
    size = 0
    while size < megabytes * 1e6:
        doc = [rnd.choice(DOCUMENTS)[0].split("## Root cause analysis")[0]]
        for section in SECTIONS:
            doc.append(f"## {section}\n")
            doc.extend(paragraph() + "\n" for _ in range(rnd.randint(2, 4)))
            if extras is not None:
                doc.extend(extras())
        text = "\n".join(doc)
        parts.append(text)
        size += len(text.encode())
    return "\n\n".join(parts)


def postmortem_stream(megabytes: float, seed: int = 7) -> str:
    """Postmortem-shaped text: the corpus documents' structure, paragraphs of prose, timeline tables full
    of look-alikes (timestamps, SHAs, trace ids, PromQL), and a planted secret or personal-data line
    about every 40 lines — denser than real postmortems, which rarely hold more than a few."""
    import random

    rnd = random.Random(seed)
    prose = sentences("neutral.txt") + [s for _, s in (line.split("\t", 1) for line in sentences("blame.txt"))]
    looks = [r["text"] for r in LOOKALIKES]
    planted = [r["text"] for r in [*SECRETS, *PERSONAL]]

    def extras() -> list[str]:
        added = []
        if rnd.random() < 0.5:
            added.append(
                "| Time (UTC) | Event | Evidence |\n|---|---|---|\n"
                + "".join(
                    f"| {rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d} | {rnd.choice(looks)} | "
                    f"`{rnd.getrandbits(48):012x}` |\n"
                    for _ in range(rnd.randint(4, 10))
                )
            )
        if rnd.random() < 0.6:
            added.append(rnd.choice(planted) + "\n")
        return added

    return _postmortems(megabytes, rnd, lambda: " ".join(rnd.choice(prose) for _ in range(rnd.randint(3, 6))), extras)


def corpus_blob(megabytes: float) -> str:
    parts = [text for text, _ in DOCUMENTS] + [r["text"] for r in [*SECRETS, *PERSONAL, *LOOKALIKES]]
    parts += sentences("neutral.txt")
    one = "\n\n".join(parts) + "\n"
    return one * max(1, int(megabytes * 1e6 / len(one.encode())))


def best_of(runs: int, fn: Any, *args: Any) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
    return best


# The redaction engine as it was before vendor key shapes, secret-named values of any alphabet and every
# roster handle (the commit before them): measured beside today's in the same run.
BEFORE = "cf05ef5"


def redaction_before() -> Any | None:
    """gates/redaction.py at BEFORE, loaded as a module of its own (None outside a git checkout)."""
    done = subprocess.run(["git", "-C", str(CORPUS.parents[2]), "show", f"{BEFORE}:gates/redaction.py"],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return None
    module = types.ModuleType("redaction_before")
    sys.modules[module.__name__] = module
    exec(compile(done.stdout, f"{BEFORE}:gates/redaction.py", "exec"), module.__dict__)
    return module


def throughput(megabytes: float) -> None:
    before = redaction_before()
    for label, text in (
        ("postmortem-shaped text (prose, timelines, a planted line per ~40 lines)", postmortem_stream(megabytes)),
        ("the dense labelled corpus (every line planted or a look-alike: worst case)", corpus_blob(megabytes / 4)),
    ):
        size = len(text.encode()) / 1e6
        print(f"Throughput on {size:.1f} MB of {label}, best of 3:")
        for audience in AUDIENCES:
            # as the activity runs it: redacted text plus the report (first 1,000 removals placed)
            seconds = best_of(3, redact_text, text, audience, POLICY, MAX_REDACTION_FINDINGS)
            print(f"  afterword redaction + report, {audience:8s} {size / seconds:6.1f} MB/s  (target >= 20 MB/s)")
            if before is not None:
                now = best_of(3, redactor_for(POLICY, audience).redact, text)
                then = best_of(3, before.redactor_for(POLICY, audience).redact, text)
                print(f"    engine alone, {audience:8s} now {size / now:6.1f} MB/s, at {BEFORE} "
                      f"{size / then:6.1f} MB/s (now / then {then / now:.2f})")
        sample = text[: max(len(text) // 8, 200_000)]
        sample_mb = len(sample.encode()) / 1e6
        seconds = best_of(1, naive_redact, sample)
        print(f"  naive per-pattern re.sub per line     {sample_mb / seconds:8.1f} MB/s")
        small = text[:300_000]
        start = time.perf_counter()
        if detect_secrets_scan(small) is not None:
            seconds = time.perf_counter() - start
            print(f"  detect-secrets 1.5 scan (detect only) {len(small.encode()) / 1e6 / seconds:8.2f} MB/s")


def lint_stream(megabytes: float, seed: int = 11) -> str:
    """Postmortem-shaped text for the lint: the corpus documents' heads (header table, summary, timeline),
    then sections of prose from the neutral corpus (system subjects with the very verbs the rules look for,
    so harder than real prose) with a blaming sentence in about one paragraph in ten."""
    import random

    rnd = random.Random(seed)
    neutral = sentences("neutral.txt")
    blame = [s for _, s in (line.split("\t", 1) for line in sentences("blame.txt"))]

    def paragraph() -> str:
        chosen = [rnd.choice(neutral) for _ in range(rnd.randint(3, 6))]
        if rnd.random() < 0.1:
            chosen[rnd.randrange(len(chosen))] = rnd.choice(blame)
        return " ".join(chosen)

    return _postmortems(megabytes, rnd, paragraph)


# The baseline: what a word-list checker does, one compiled regular expression over the text (judgement
# words and failure verbs, case-insensitive), no subjects, no positions beyond the match.
PLAIN_LINT = re.compile(
    r"\b(?:careless|negligent|sloppy|lazy|incompetent|reckless|stupid|human error|operator error|should have|"
    r"could have|failed to|forgot|neglected|ignored|overlooked|missed|blame|fault|mistake)\b",
    re.IGNORECASE,
)


def lint_throughput(megabytes: float) -> None:
    from afterword.gates.fast_regex import engine

    linter = linter_for(POLICY)
    linter.lint("warm up: the name lexicon loads once per process")
    before = lint_before()
    old = before.linter_for(POLICY) if before is not None else None
    for label, text in (
        ("postmortem-shaped text (neutral prose, a blaming sentence in ~1 paragraph in 10)", lint_stream(megabytes)),
        ("the dense stream (prose from the labelled blame and neutral sentences, look-alike tables)",
         postmortem_stream(megabytes / 2)),
    ):
        size = len(text.encode()) / 1e6
        print(f"Blameless lint throughput on {size:.1f} MB of {label}, one core, best of 3:")
        seconds = best_of(3, linter.lint, text)
        plain = best_of(3, PLAIN_LINT.findall, text)
        print(f"  afterword blameless lint ({engine()})     {size / seconds:8.1f} MB/s  (target >= 5 MB/s); "
              f"{len(linter.lint(text))} findings")
        print(f"  plain compiled-regex pass             {size / plain:8.1f} MB/s  (the lint takes "
              f"{seconds / plain:.1f}x its time)")
        if old is not None:
            sample = text[: max(len(text) // 8, 200_000)]
            old_seconds = best_of(1, old.lint, sample)
            rate = len(sample.encode()) / 1e6 / old_seconds
            print(f"  the lint before ({LINT_BEFORE_COMMIT[:10]})       {rate:8.1f} MB/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=8.0, help="size of the throughput sample (MB)")
    parser.add_argument("--lint-only", action="store_true", help="only the blameless lint's measurements")
    args = parser.parse_args()
    if args.lint_only:
        language_quality()
        print()
        lint_throughput(min(args.mb, 4.0))
        return
    redaction_quality()
    print()
    naive_quality()
    detect_secrets_quality()
    print()
    language_quality()
    print()
    throughput(args.mb)
    print()
    lint_throughput(min(args.mb, 4.0))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
