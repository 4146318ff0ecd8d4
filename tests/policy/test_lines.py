"""The key-line scanner finds the line of every key in TOML as tomli-w (or a person) writes it."""

from __future__ import annotations

from typing import Any

import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from afterword.policies.lines import KeyPath, key_lines, line_of

keys = st.from_regex(r"[a-z][a-z0-9 ._-]{0,6}", fullmatch=True)
leaves = st.one_of(st.integers(), st.text(max_size=8), st.booleans(), st.lists(st.integers(), max_size=3),
                   st.just('multi\nline\n"""text"""'))
documents = st.recursive(
    st.dictionaries(keys, leaves, min_size=1, max_size=4),
    lambda inner: st.dictionaries(keys, st.one_of(leaves, inner, st.lists(inner, min_size=1, max_size=2)),
                                  min_size=1, max_size=4),
    max_leaves=25,
)


def paths(data: Any, prefix: KeyPath = ()) -> list[KeyPath]:
    found: list[KeyPath] = []
    for key, value in data.items():
        path = (*prefix, key)
        found.append(path)
        if isinstance(value, dict):
            found.extend(paths(value, path))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for index, item in enumerate(value):
                found.extend(paths(item, (*path, index)))
    return found


@settings(max_examples=150, deadline=None)
@given(documents)
def test_every_key_has_a_line_that_names_it(data: dict[str, Any]) -> None:
    text = tomli_w.dumps(data)
    lines = key_lines(text)
    rows = text.splitlines()
    for path in paths(data):
        line = line_of(lines, path)
        assert line is not None, (path, text)
        # its own line, or (inside an inline table or array) the line of the key that holds it
        named = [p for p in path if isinstance(p, str) and p in rows[line - 1]]
        assert named, (path, line, text)
        if path in lines:
            assert str(path[-1]) in rows[line - 1], (path, line, text)


def test_hand_written_forms() -> None:
    text = (
        '# comment\n'
        'a = 1\n'
        '[b]\n'
        'c.d = 2          # dotted\n'
        '"e f" = { g = 3 }\n'
        'h = """\n'
        'x = 1\n'
        '"""\n'
        '[[people]]\n'
        'name = "A"\n'
        '[[people]]\n'
        'name = "B"\n'
        '[people.extra]\n'
        'k = 1\n'
        'arr = [\n'
        '  1,\n'
        ']\n'
    )
    lines = key_lines(text)
    assert lines[("a",)] == 2
    assert lines[("b", "c", "d")] == 4
    assert lines[("b", "e f")] == 5
    assert line_of(lines, ("b", "e f", "g")) == 5  # inside an inline table: its key's line
    assert ("b", "x") not in lines  # inside a multi-line string
    assert lines[("people", 1, "name")] == 12
    assert lines[("people", 1, "extra", "k")] == 14
    assert lines[("people", 1, "extra", "arr")] == 15
