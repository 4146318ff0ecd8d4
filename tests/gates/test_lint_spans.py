"""Where the lint says a finding is, the words are: a property over generated Markdown documents.

Documents mix prose with fenced and indented code, tables, lists, block quotes, front matter, HTML comments,
CRLF line ends, tabs, non-ASCII text and long lines. Blaming sentences are planted in prose (each must be
found, at its planted words) and inside code, quotes, comments and front matter (never read there).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from afterword.gates.lint import linter_for

LINTER = linter_for({})

# (sentence, the words a finding must touch)
BLAME = [
    ("Priya's mistake took the site down.", "Priya's mistake"),
    ("Dave broke production on Friday.", "Dave"),
    ("The on-call engineer ignored the alert.", "ignored"),
    ("Root cause: Kofi restarted the wrong cluster.", "Kofi"),
    ("Had Wei double-checked the flag, the deploy would have stopped.", "Had Wei"),
    ("@sam merged without a review.", "@sam"),
    ("The change was careless.", "careless"),
    ("Björn forgot to renew the certificate.", "Björn forgot"),
    ("Zoë's typo broke the build.", "Zoë's typo"),
    ("The failure was down to the operator.", "down to the operator"),
    ("Whoever approved this did not read it.", "Whoever"),
    ("La panne est due à une erreur humaine.", "erreur humaine"),
]
NEUTRAL = [
    "The cache expired.",
    "Latency rose by 30 ms \u2014 the caf\u00e9 API was slow.",
    "The scheduler failed to renew its lease.",
    "R\u00e9sum\u00e9: the queue grew to 2\u00a0million messages.",
    "Retries\tmultiplied the load.",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8 stays untouched.",
    "Emoji \U0001f680 do not move columns.",
    "The build did not check the schema.",
]

prose_sentence = st.one_of(st.sampled_from(NEUTRAL).map(lambda s: (s, None)), st.sampled_from(BLAME))


@dataclass
class Doc:
    parts: list[str] = field(default_factory=list)
    planted: list[tuple[int, int]] = field(default_factory=list)  # prose blame words: (start, end)
    unread: list[tuple[int, int]] = field(default_factory=list)  # code, quotes, comments, front matter
    size: int = 0

    def add(self, text: str, unread: bool = False) -> int:
        start = self.size
        self.parts.append(text)
        self.size += len(text)
        if unread:
            self.unread.append((start, self.size))
        return start


def _blame_text(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(BLAME))[0]


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, Doc]:
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    doc = Doc()
    if draw(st.booleans()):
        doc.add(f"---{newline}title: {_blame_text(draw)}{newline}---{newline}{newline}", unread=True)
    doc.add(f"# Postmortem{newline}{newline}")
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(
            st.sampled_from(["prose", "list", "long", "fence", "indented", "table", "quote", "comment", "heading"])
        )
        if kind in ("prose", "list", "long"):
            sentences = draw(st.lists(prose_sentence, min_size=1, max_size=4))
            if kind == "long":
                sentences = [(NEUTRAL[0], None)] * 40 + sentences  # a line of a few KB
            lead = "- " if kind == "list" else draw(st.sampled_from(["", "  ", "   "]))  # a tab would open code
            doc.add(lead)
            for index, (sentence, words) in enumerate(sentences):
                start = doc.add(sentence)
                if words is not None:
                    at = start + sentence.index(words)
                    doc.planted.append((at, at + len(words)))
                doc.add(" " if index + 1 < len(sentences) else newline)
            doc.add(newline)
        elif kind == "fence":
            marker = draw(st.sampled_from(["```", "~~~", "````"]))
            doc.add(f"{marker}text{newline}{_blame_text(draw)}{newline}{marker}{newline}{newline}", unread=True)
        elif kind == "indented":  # after a paragraph: after a list item, indented lines continue the item
            doc.add(f"{NEUTRAL[0]}{newline}{newline}")
            doc.add(f"    {_blame_text(draw)}{newline}\t{_blame_text(draw)}{newline}", unread=True)
            doc.add(newline)
        elif kind == "table":
            doc.add(f"| Time | Event |{newline}|---|---|{newline}| 10:02 | Priya paged the DBA |{newline}{newline}")
        elif kind == "quote":
            doc.add(f"> {_blame_text(draw)}{newline}", unread=True)
            doc.add(newline)
        elif kind == "comment":
            doc.add(f"<!-- {_blame_text(draw)}{newline}{_blame_text(draw)} -->", unread=True)
            doc.add(f"{newline}{newline}")
        else:
            doc.add(f"## Impact{newline}{newline}")
    return "".join(doc.parts), doc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_every_span_is_the_matched_text_and_every_planted_blame_is_found(generated: tuple[str, Doc]) -> None:
    text, doc = generated
    located = LINTER.located(text)
    lines = text.split("\n")
    for finding, hit in located:
        assert text[hit.start : hit.end] == hit.text, (hit, text)
        assert hit.text and hit.text == hit.text.strip() and "\n" not in hit.text and "\r" not in hit.text
        assert finding.line is not None and finding.column is not None and finding.end_column is not None
        assert lines[finding.line - 1][finding.column - 1 : finding.end_column - 1] == hit.text
        assert not any(s < hit.end and hit.start < e for s, e in doc.unread), (hit, text)
    for start, end in doc.planted:
        assert any(hit.start < end and start < hit.end for _, hit in located), (text[start:end], text)


def test_the_issue_document_is_reported_at_its_line_after_the_code_block() -> None:
    text = "# PM\n\n## Summary\n\nThe cache expired.\n```\nkey = 1\n```\nThe queue grew.\nPriya's mistake took the site down.\n"
    [finding] = LINTER.lint(text)
    assert (finding.line, finding.column, finding.end_column) == (10, 1, 16)
    assert finding.rule == "naming"


def test_crlf_tabs_and_non_ascii_keep_columns_in_characters() -> None:
    text = "Caf\u00e9 \u2014 r\u00e9sum\u00e9\r\n\tLatency rose; Bj\u00f6rn forgot to renew the certificate.\r\n"
    [finding] = LINTER.lint(text)
    line = text.split("\n")[1]
    assert (finding.line, finding.column) == (2, line.index("Bj\u00f6rn") + 1)
    assert line[finding.column - 1 : (finding.end_column or 0) - 1] == "Bj\u00f6rn forgot to"
