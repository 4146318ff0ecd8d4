"""Reading policy files: TOML -> inheritance (`extends`) -> strict schema -> cross-field checks -> teams.

Every problem is reported at once, each with its file, line and key path, as one `PolicyError`.
"""

from __future__ import annotations

import re
import tomllib
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from afterword.policies import checks
from afterword.policies.errors import PolicyError, Problem
from afterword.policies.lines import KeyPath, dotted, key_lines
from afterword.policies.merge import merge
from afterword.policies.schema import Policy

DEFAULT_NAME = "default"
SHIPPED = "<shipped default.toml>"
# What a team table may not override: identity, inheritance and the roster are the organisation's.
TEAM_FORBIDDEN = ("org", "name", "extends", "people", "teams")
_MAX_CHAIN = 16
ORG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# A policy's identity is its own: these keys are never inherited through `extends`.
OWN_KEYS = ("org", "name", "description", "extends")


@dataclass
class Source:
    """One file of an inheritance chain: its name for messages, where its keys are, and its data."""

    name: str
    lines: dict[KeyPath, int]
    data: dict[str, Any]


@dataclass
class Loaded:
    """A raw (merged, not yet validated) policy and the files it came from, most derived first."""

    data: dict[str, Any]
    sources: list[Source] = field(default_factory=list)
    base_dir: Path | None = None


def default_text() -> str:
    return resources.files("afterword.policies").joinpath("default.toml").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _default_raw() -> Loaded:
    return _parse(default_text(), SHIPPED, None, chain=())


def _syntax_problem(name: str, err: tomllib.TOMLDecodeError) -> Problem:
    text = str(err)
    match = re.search(r"\(at line (\d+), column (\d+)\)", text)
    line = int(match.group(1)) if match else None
    message = re.sub(r"\s*\(at line \d+, column \d+\)", "", text) if match else text
    if match:
        message += f" (column {match.group(2)})"
    return Problem(file=name, line=line, key="(syntax)", message=f"TOML syntax error: {message}")


def _parse(text: str, name: str, base_dir: Path | None, chain: tuple[str, ...]) -> Loaded:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise PolicyError([_syntax_problem(name, err)]) from None
    lines = key_lines(text)
    source = Source(name=name, lines=lines, data=data)
    extends = data.get("extends")
    if extends is None:
        return Loaded(data=data, sources=[source], base_dir=base_dir)
    if not isinstance(extends, str) or not extends.strip():
        raise PolicyError([Problem(name, lines.get(("extends",)), "extends",
                                   'write "default" (the shipped policy) or a path to another policy file')])
    base = _load_base(extends.strip(), name, lines, base_dir, chain)
    child = {k: v for k, v in data.items() if k != "extends"}
    return Loaded(data=merge(base.data, child), sources=[source, *base.sources], base_dir=base_dir)


MAX_POLICY_BYTES = 1 << 20


def read_policy_file(path: Path) -> str:
    """A policy file's text: a regular file (never a device or pipe), at most 1 MiB, UTF-8."""
    if path.exists() and not path.is_file():
        raise ValueError("not a regular file")
    with path.open("rb") as handle:
        data = handle.read(MAX_POLICY_BYTES + 1)
    if len(data) > MAX_POLICY_BYTES:
        raise ValueError(f"larger than {MAX_POLICY_BYTES // 1024} KiB; a policy is a short text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("the policy file is not UTF-8 text") from None


def _load_base(ref: str, name: str, lines: dict[KeyPath, int], base_dir: Path | None,
               chain: tuple[str, ...]) -> Loaded:
    if ref == DEFAULT_NAME:
        base = _default_raw()
        return Loaded(data={k: v for k, v in base.data.items() if k not in OWN_KEYS}, sources=base.sources)
    path = Path(ref) if Path(ref).is_absolute() else (base_dir or Path.cwd()) / ref
    key = str(path.resolve())
    if key in chain or len(chain) >= _MAX_CHAIN:
        raise PolicyError([Problem(name, lines.get(("extends",)), "extends",
                                   f"inheritance loops back to {ref!r}: " + " -> ".join((*chain, key)))])
    try:
        text = read_policy_file(path)
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) else str(err)
        raise PolicyError([Problem(name, lines.get(("extends",)), "extends",
                                   f"cannot read {ref!r} ({reason}): give \"default\" or a policy file "
                                   "path relative to this file")]) from None
    base = _parse(text, str(path), path.parent, (*chain, key))
    # the base's identity is its own; the child names itself (or takes its file name)
    return Loaded(data={k: v for k, v in base.data.items() if k not in OWN_KEYS}, sources=base.sources)


# ---------------------------------------------------------------------------------------------------
# Validation with positions
# ---------------------------------------------------------------------------------------------------


def _locate(sources: list[Source], path: KeyPath) -> tuple[str, int | None]:
    """The file that wrote `path` (or its nearest written parent) and the line, most derived first."""
    best: tuple[int, str, int | None] = (-1, sources[0].name if sources else "<policy>", None)
    for source in sources:
        for depth in range(len(path), 0, -1):
            line = source.lines.get(tuple(path[:depth]))
            if line is not None:
                if depth > best[0]:
                    best = (depth, source.name, line)
                break
    return best[1], best[2]


def _clean_loc(loc: tuple[str | int, ...], data: Any) -> KeyPath:
    """The key path in the document for a pydantic error location.

    pydantic adds parts of its own (`[key]` for a dict key, a union member's name); they are told apart
    from real keys by walking the data itself: a real key exists where it is named, except a missing key,
    which is the last part."""
    path: list[str | int] = []
    current = data
    for index, part in enumerate(loc):
        in_table = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_table or in_list:
            current = current[part]
        elif isinstance(current, dict) and index == len(loc) - 1 and part != "[key]":
            pass  # a required key that is missing
        else:
            continue
        path.append(part)
    return tuple(path)


def _model_at(path: KeyPath) -> type[BaseModel] | None:
    """The schema model found at a key path, to list what keys it allows."""
    current: Any = Policy
    for part in path:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return None
            current = info.annotation
        elif typing.get_origin(current) in (dict, list):
            current = typing.get_args(current)[-1]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation


def _message(error: Any, path: KeyPath) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        model = _model_at(path[:-1])
        allowed = ", ".join(model.model_fields) if model else "see `afterword policy schema`"
        return f"unknown key {str(path[-1]) if path else '?'!r}; allowed here: {allowed}"
    if kind == "missing":
        return "required key is missing"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    value = error.get("input")
    if kind not in ("model_type", "dict_type") and isinstance(value, (str, int, float, bool)):
        message += f" (got {value!r})"
    return message


def _schema_problems(err: ValidationError, data: dict[str, Any]) -> dict[KeyPath, list[str]]:
    # a value that fits none of a union's options gets one error per option: one problem, all options
    grouped: dict[KeyPath, list[str]] = {}
    for error in err.errors():
        path = _clean_loc(tuple(error["loc"]), data)
        message = _message(error, path)
        if error["type"] == "missing" and path:
            # the table that lacks a required key cannot be used at all: drop it when checking the rest
            grouped.setdefault(path[:-1], [])
        if message not in grouped.setdefault(path, []):
            grouped[path].append(message)
    return grouped


def _without(data: Any, paths: list[KeyPath]) -> Any:
    """A copy of `data` without the values at `paths` (so defaults or inherited values stand in)."""
    if not paths:
        return data
    if any(not path for path in paths):
        return None
    if isinstance(data, dict):
        return {k: _without(v, [p[1:] for p in paths if p[0] == k]) for k, v in data.items()
                if (k,) not in paths}
    if isinstance(data, list):
        return [_without(v, [p[1:] for p in paths if p[0] == i]) for i, v in enumerate(data) if (i,) not in paths]
    return data


def validate(loaded: Loaded, *, prefix: KeyPath = ()) -> Policy:
    """The policy model for merged data; every schema and cross-field problem as one PolicyError.

    Cross-field checks need a valid model, so after schema errors the faulty values are set aside (their
    defaults or inherited values stand in) and the rest is still checked: one run lists every problem."""
    found: dict[KeyPath, list[str]] = {}
    data: Any = loaded.data
    policy: Policy | None = None
    for _attempt in range(4):
        try:
            policy = Policy.model_validate(data)
            break
        except ValidationError as err:
            problems = _schema_problems(err, data)
            for path, messages in problems.items():
                if messages:
                    found.setdefault(path, messages)
            data = _without(data, list(problems))
            if not isinstance(data, dict):
                break
    if policy is not None:
        for path, message in checks.check(policy, loaded.base_dir):
            if not any(path[: len(bad)] == bad for bad in found):  # not a consequence of a reported one
                found.setdefault(path, []).append(message)
    if found:
        problems_out = []
        for path, messages in found.items():
            full = (*prefix, *path)
            file, line = _locate(loaded.sources, full)
            message = "; or: ".join(messages)
            top = loaded.sources[0].name if loaded.sources else file
            if file == SHIPPED and top != SHIPPED:
                # nobody edits the shipped file: the fix is to set the value in the policy being loaded
                message += f" (the value is inherited from the shipped default, line {line}: set it here)"
                file, line = top, _locate(loaded.sources[:1], full)[1]
            problems_out.append(Problem(file, line, dotted(full), message))
        raise PolicyError(problems_out)
    assert policy is not None
    return policy


def team_data(policy_data: dict[str, Any], team: str) -> dict[str, Any]:
    """The merged data of one team's effective policy (org policy with the team's table over it)."""
    overrides = dict(policy_data.get("teams", {}).get(team, {}))
    overrides.pop("description", None)
    return merge(policy_data, overrides)


def _check_teams(loaded: Loaded, policy: Policy) -> None:
    problems: list[Problem] = []
    for team, table in policy.teams.items():
        extra = dict(table.model_extra or {})
        for key in TEAM_FORBIDDEN:
            if key in extra:
                path: KeyPath = ("teams", team, key)
                file, line = _locate(loaded.sources, path)
                problems.append(Problem(file, line, dotted(path),
                                        f"a team cannot override {key!r}; set it for the whole organisation"))
        if problems:
            continue
        team_loaded = Loaded(data=merge(loaded.data, extra), sources=loaded.sources, base_dir=loaded.base_dir)
        try:
            validate(team_loaded, prefix=("teams", team))
        except PolicyError as err:
            problems.extend(err.problems)
    if problems:
        raise PolicyError(problems)


def _anchor_templates_dir(loaded: Loaded) -> None:
    """A relative `document.templates_dir` is relative to the file that wrote it."""
    for source in loaded.sources:
        written = source.data.get("document", {})
        folder = written.get("templates_dir") if isinstance(written, dict) else None
        if isinstance(folder, str):
            merged = loaded.data.get("document")
            if (isinstance(merged, dict) and not Path(folder).is_absolute() and source.name != SHIPPED
                    and not source.name.startswith("<")):
                document = dict(merged)
                document["templates_dir"] = str((Path(source.name).parent / folder).resolve())
                loaded.data["document"] = document
            return


def _written(data: Any, path: KeyPath) -> bool:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def _prune_inherited_severities(loaded: Loaded) -> None:
    """A policy that renames its severities (`severities.order`) does not inherit per-severity entries for
    names it no longer has; entries it writes itself are still checked (and refused if unknown)."""
    data, own = loaded.data, loaded.sources[0].data
    severities = data.get("severities")
    order = severities.get("order") if isinstance(severities, dict) else None
    if not isinstance(order, list) or not _written(own, ("severities", "order")):
        return
    assert isinstance(severities, dict)
    known = {name for name in order if isinstance(name, str)}

    def prune(path: KeyPath, keep: Any) -> None:
        table: Any = data
        for part in path:
            table = table.get(part) if isinstance(table, dict) else None
        if not isinstance(table, dict):
            return
        for key in [k for k, v in table.items() if not keep(k, v) and not _written(own, (*path, k))]:
            del table[key]

    def by_name(key: str, value: Any) -> bool:
        return key in known

    prune(("severities", "requirement"), by_name)
    labels = severities.get("map")
    for label in list(labels) if isinstance(labels, dict) else []:
        prune(("severities", "map", label), lambda key, value: value in known)
    prune(("review", "by_severity"), by_name)
    prune(("document", "by_severity"), by_name)
    deadlines = data.get("deadlines")
    for name, deadline in (deadlines.items() if isinstance(deadlines, dict) else []):
        if not isinstance(deadline, dict):
            continue
        prune(("deadlines", name, "by_severity"), by_name)
        applies = deadline.get("applies_to")
        if isinstance(applies, list) and not _written(own, ("deadlines", name, "applies_to")):
            deadline["applies_to"] = [s for s in applies if s in known]
            if applies and not deadline["applies_to"]:
                deadline["enabled"] = False  # it applied only to severities this policy no longer has


def _copy_tables(data: Any) -> Any:
    return {k: _copy_tables(v) for k, v in data.items()} if isinstance(data, dict) else data


def source_files(loaded: Loaded) -> list[Path]:
    return [Path(s.name) for s in loaded.sources if s.name != SHIPPED and not s.name.startswith("<")]


def load_text(text: str, name: str = "<policy>", base_dir: Path | None = None,
              default_org: str | None = None) -> Policy:
    """Load a policy from TOML text; `name` is what messages call the file."""
    return _load_text(text, name, base_dir, default_org)[0]


def _load_text(text: str, name: str, base_dir: Path | None, default_org: str | None) -> tuple[Policy, Loaded]:
    loaded = _parse(text, name, base_dir, chain=())
    own = loaded.sources[0].data
    data = dict(loaded.data)
    if "org" not in own and default_org is not None:
        data["org"] = default_org
    if "name" not in own:
        data["name"] = data.get("org", DEFAULT_NAME)
    data.pop("extends", None)
    loaded.data = _copy_tables(data)  # pruning below must not touch the cached shipped default
    _prune_inherited_severities(loaded)
    _anchor_templates_dir(loaded)
    policy = validate(loaded)
    _check_teams(loaded, policy)
    return policy, loaded


def load_policy(path: Path | str) -> Policy:
    """Load and check a policy file (with everything it extends). Raises PolicyError."""
    return load_policy_with_sources(path)[0]


def load_policy_with_sources(path: Path | str) -> tuple[Policy, list[Path]]:
    """The policy and every file it was read from (itself first, then what it extends)."""
    path = Path(path)
    try:
        text = read_policy_file(path)
    except OSError as err:
        raise PolicyError.single(str(path), f"cannot read the policy file: {err.strerror}") from None
    except ValueError as err:
        raise PolicyError.single(str(path), str(err)) from None
    policy, loaded = _load_text(text, str(path), path.parent, default_org=path.stem)
    return policy, source_files(loaded)


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    return load_text(default_text(), SHIPPED)


def org_policy_path(org: str, policy_dir: Path | None) -> Path | None:
    """The file that holds `org`'s policy, if there is one."""
    if not ORG_NAME.match(org):  # also keeps "../x" from reaching outside the policy folder
        raise PolicyError.single("(org name)", f"{org!r} is not a valid org name: use letters, digits, "
                                 "'-', '_' or '.', starting with a letter or digit", key="org")
    if policy_dir is None:
        return None
    candidate = Path(policy_dir) / f"{org}.toml"
    return candidate if candidate.is_file() else None


def load_org_policy(org: str, policy_dir: Path | None, team: str | None = None) -> Policy:
    """`<policy_dir>/<org>.toml`, else the shipped default under the org's name; with `team`, that team's
    effective policy."""
    path = org_policy_path(org, policy_dir)
    if path is not None:
        policy = load_policy(path)
        check_org_name(policy, path, org)
    else:
        policy = default_for_org(org)
    return for_team(policy, team) if team else policy


def default_for_org(org: str) -> Policy:
    """The shipped default under an org's name (for orgs without a policy file)."""
    try:
        return Policy.model_validate({**default_policy().model_dump(mode="json"), "org": org})
    except ValidationError:
        raise PolicyError.single("(org name)", f"{org!r} is not a valid org name: use letters, digits, "
                                 "'-', '_' or '.', starting with a letter or digit", key="org") from None


def check_org_name(policy: Policy, path: Path, org: str) -> None:
    """A policy folder is looked up by file name: `<org>.toml` must be the policy of `org`."""
    if policy.org != org:
        lines = key_lines(path.read_text(encoding="utf-8"))
        raise PolicyError([Problem(str(path), lines.get(("org",)), "org",
                                   f"this file is looked up for org {org!r} but says org = {policy.org!r}: "
                                   f"rename the file to {policy.org}.toml or change `org`")])


def for_team(policy: Policy, team: str | None) -> Policy:
    """The effective policy of one team (the org's when the team has no table)."""
    if not team or team not in policy.teams:
        return policy
    return Policy.model_validate(team_data(policy.model_dump(mode="json", exclude_none=False), team))


__all__ = [
    "check_org_name",
    "default_for_org",
    "default_policy",
    "for_team",
    "load_org_policy",
    "load_policy",
    "load_policy_with_sources",
    "load_text",
    "org_policy_path",
]
