"""Validation errors in the package's words: one sentence per error, the closest valid key for typos."""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import BaseModel, ValidationError


def _field_paths(schema: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, f in schema.model_fields.items():
        path = f"{prefix}{name}"
        out.append(path)
        ann = f.annotation
        for cand in (ann, *getattr(ann, "__args__", ())):
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                out.extend(_field_paths(cand, path + "."))
    return out


def _suggest(bad: str, schema: type[BaseModel]) -> str:
    valid = _field_paths(schema)
    # a key's own parent section is never the fix for an extra key under it ('distill.loss.foo')
    close = difflib.get_close_matches(bad, [v for v in valid if not bad.startswith(v + ".")], n=1, cutoff=0.6)
    if close and "." in bad and close[0].rsplit(".", 1)[0] == bad.rsplit(".", 1)[0]:
        # a sibling is close as a path because the section is shared: suggest it only if the names are close
        if difflib.SequenceMatcher(None, bad.rsplit(".", 1)[1], close[0].rsplit(".", 1)[1]).ratio() < 0.6:
            close = []
    if not close:
        prefix = bad.rsplit(".", 1)[0] + "." if "." in bad else ""
        siblings = [v for v in valid if v.startswith(prefix) and "." not in v[len(prefix) :]]
        return f" Valid keys here: {', '.join(siblings[:12])}."
    return f" Did you mean {close[0]!r}?"


# pydantic names the member of a union it tried (``constrained-float``, ``function-after[...]``,
# ``int``, ``list[int]``) in an error's location; those are not keys the user wrote.
_UNION_TAG = re.compile(r"^(constrained-\w+|function-\w+\[.*\]|[a-z-]+\[.*\]|int|float|str|bool|none|[A-Z]\w*)$")
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def _loc(parts: tuple[Any, ...]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _num(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _got(err: dict[str, Any]) -> str:
    got = err.get("input")
    return "" if isinstance(got, dict) or "input" not in err or "got" in str(err["msg"]) else f" (got {got!r})"


def _wanted(err: dict[str, Any]) -> str:
    """What a type error asks for: ``a valid integer``, ``a mapping of ScheduleConfig fields``."""
    msg = str(err["msg"]).removeprefix("Input should be ")
    if err["type"] == "model_type":
        return f"a mapping of {(err.get('ctx') or {}).get('class_name', 'fields')} fields"
    return msg.split(",")[0] if err["type"].endswith("_parsing") else msg


def _message(err: dict[str, Any], loc: str) -> str:
    """One validation error in the package's words: ``distill.temperature must be > 0 (got 0)``."""
    kind, ctx, msg = err["type"], err.get("ctx") or {}, str(err["msg"])
    subject = loc or "the configuration"
    if kind in _BOUNDS:
        limit = next(iter(ctx.values()), "?")
        return f"{subject} must be {_BOUNDS[kind]} {_num(limit)}{_got(err)}."
    if kind == "too_short":
        n = ctx.get("min_length", 1)
        return f"{subject} needs at least {n} entr{'y' if n == 1 else 'ies'}{_got(err)}."
    if kind == "too_long":
        n = ctx.get("max_length")
        return f"{subject} takes at most {n} entr{'y' if n == 1 else 'ies'}{_got(err)}."
    if kind == "value_error":  # a check of the whole configuration names its field itself
        return f"{subject + ': ' if loc else ''}{msg.removeprefix('Value error, ')}{_got(err)}."
    if kind == "assertion_error":
        return f"{subject}: {msg.removeprefix('Assertion failed, ')}{_got(err)}."
    if msg.startswith("Input should be "):
        return f"{subject} must be {_wanted(err)}{_got(err)}."
    return f"{subject}: {msg}{_got(err)}."


def _format_errors(exc: ValidationError, source: str, schema: type[BaseModel]) -> str:
    parts: list[str] = []
    # Errors from the members of one union (e.g. temperature: a number or a schedule) come
    # together: report the member whose constraint failed, or one line listing what is accepted.
    unions: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for details in exc.errors():
        err: dict[str, Any] = dict(details)
        raw = err["loc"]
        tag_at = next((i for i, p in enumerate(raw) if isinstance(p, str) and _UNION_TAG.match(p)), None)
        loc = _loc(tuple(p for p in raw if not (isinstance(p, str) and _UNION_TAG.match(p))))
        if tag_at is not None:
            unions.setdefault(_loc(raw[:tag_at]), []).append((loc, err))
            continue
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key {loc!r}.{_suggest(loc, schema)}")
        elif err["type"] == "missing":
            parts.append(f"missing required field {loc!r}.")
        else:
            parts.append(_message(err, loc))
    for where, errs in unions.items():
        mismatch = [e for _, e in errs if e["type"].endswith("_type") or e["type"].endswith("_parsing")]
        real = [(loc, e) for loc, e in errs if e not in mismatch]
        if real:
            parts.extend(_message(e, loc) if e["type"] != "extra_forbidden" else f"unknown key {loc!r}." for loc, e in real)
        else:
            wanted = ", or ".join(dict.fromkeys(_wanted(e) for e in mismatch))
            parts.append(f"{where} must be {wanted}{_got(mismatch[0])}.")
    return f"{source}: invalid configuration: " + " ".join(parts) + " Fix the file or the --set override and run again."
