"""How an inheriting policy (or a team override) combines with its base. The rules, also in docs/policy.md:

1. Tables merge key by key, recursively: a key the child writes replaces the base's; keys the child does not
   write are inherited.
2. Everything else replaces: scalars, and lists (including arrays of tables such as `[[people]]`) — a
   child that writes `required_sections` or `[[people]]` gives the whole list.
3. A policy's identity is its own: `org`, `name`, `description` and `extends` are not inherited.

These rules make inheritance associative: merge(merge(a, b), c) == merge(a, merge(b, c)).
"""

from __future__ import annotations

from typing import Any


def merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """`child` written over `base`; neither argument is changed."""
    result = dict(base)
    for key, value in child.items():
        inherited = result.get(key)
        if isinstance(value, dict) and isinstance(inherited, dict):
            result[key] = merge(inherited, value)
        else:
            result[key] = value
    return result
