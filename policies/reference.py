"""The policy reference, generated from the schema so it cannot drift:

    python -m afterword.policies.reference > docs/policy-reference.md

A test fails when the committed file differs from what this prints.
"""

from __future__ import annotations

import json
import types
import typing
from datetime import date, time
from enum import Enum
from typing import Any

from pydantic import AfterValidator, BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from afterword.policies.durations import DURATION_HELP
from afterword.policies.schema import Policy, _check_duration

HEADER = """# Policy reference

Generated from the schema by `python -m afterword.policies.reference`; do not edit by hand
(a test compares this file with the generator's output). How policies are written, inherited and
checked: [policy.md](policy.md).

Types: *duration* is {duration}. *name* is letters, digits, `-`, `_`, `.`.
`<severity>`, `<name>`, `<label>` stand for keys you choose. Unknown keys are errors everywhere.
"""


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """The annotation without Annotated wrappers, and the metadata it carried."""
    metadata: list[Any] = []
    while typing.get_origin(annotation) is typing.Annotated:
        args = typing.get_args(annotation)
        annotation, metadata = args[0], [*metadata, *args[1:]]
    return annotation, metadata


def _is_duration(metadata: list[Any]) -> bool:
    return any(
        (isinstance(m, FieldInfo) and (m.description == DURATION_HELP or _is_duration(list(m.metadata))))
        or (isinstance(m, AfterValidator) and m.func is _check_duration)
        for m in metadata
    )


def _type_name(annotation: Any) -> str:
    annotation, metadata = _unwrap(annotation)
    if _is_duration(metadata):
        return "duration"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        optional = " (optional)" if type(None) in args else ""
        return " or ".join(names) + optional
    if origin is typing.Literal:
        return " / ".join(json.dumps(a) for a in args)
    if origin is list:
        inner = _type_name(args[0])
        return "array of tables" if inner == "table" else f"list of {inner}"
    if origin is dict:
        inner = _type_name(args[1])
        return "table of tables" if inner == "table" else f"table of {inner}"
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return " / ".join(json.dumps(m.value) for m in annotation)
        if issubclass(annotation, BaseModel):
            return "table"
        special = {str: "string", int: "integer", float: "number", bool: "boolean", time: "time (HH:MM:SS)",
                   date: "date (YYYY-MM-DD)"}
        if annotation in special:
            return special[annotation]
        return annotation.__name__
    if annotation is typing.Any:
        return "any"
    return str(annotation)


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    factory: Any = info.default_factory
    value = factory() if factory is not None else info.default
    if value is PydanticUndefined or value is None:
        return "unset"
    if isinstance(value, BaseModel):
        return "(see below)"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, time | date):
        return f"`{value.isoformat()}`"
    text = json.dumps(value, default=str)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"`{text}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The model a field holds (directly, as table values, or as list items) and the key suffix."""
    annotation, _ = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        models = [m for m in (_model_of(a) for a in options) if m[0] is not None]
        return models[0] if len(models) == 1 else (None, "")
    if origin is dict:
        inner, suffix = _model_of(args[1])
        return inner, ".<name>" + suffix
    if origin is list:
        inner, suffix = _model_of(args[0])
        return inner, "[]" + suffix
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    return None, ""


def _section(model: type[BaseModel], path: str, out: list[str], seen: set[tuple[type, str]]) -> None:
    if (model, path) in seen:
        return
    seen.add((model, path))
    title = (f"`[[{path[:-2]}]]`" if path.endswith("[]") else f"`[{path}]`") if path else "Top level"
    out.append(f"\n## {title}\n")
    doc = (model.__doc__ or "").strip()
    if doc and not doc.startswith(("Usage docs", "A base class")):
        out.append(" ".join(doc.split()) + "\n")
    if model.model_config.get("extra") == "allow":
        out.append("Besides the keys below, any policy section may appear here (see policy.md).\n")
    out.append("| key | type | default | description |")
    out.append("|---|---|---|---|")
    nested: list[tuple[type[BaseModel], str]] = []
    for name, info in model.model_fields.items():
        kind = "duration" if _is_duration(list(info.metadata)) else _type_name(info.annotation)
        out.append(f"| `{name}` | {_cell(kind)} | {_cell(_default(info))} | "
                   f"{_cell(info.description or '')} |")
        inner, suffix = _model_of(info.annotation)
        if inner is not None:
            key = f"{path}.{name}" if path else name
            if suffix.startswith(".<name>") and name in ("by_severity", "requirement"):
                suffix = suffix.replace("<name>", "<severity>", 1)
            nested.append((inner, key + suffix))
    for inner, key in nested:
        _section(inner, key, out, seen)


def reference() -> str:
    out = [HEADER.format(duration=DURATION_HELP).rstrip("\n")]
    _section(Policy, "", out, set())
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(reference(), end="")
