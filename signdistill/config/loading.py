"""Loading a run's YAML config: ``yaml.safe_load``, ``--set key.path=value`` overrides, validation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar, overload

import yaml
from pydantic import BaseModel, ValidationError

from signdistill.config.compare import CompareConfig
from signdistill.config.distill import DistillRunConfig
from signdistill.config.messages import _format_errors
from signdistill.config.sections import RunConfig
from signdistill.errors import ConfigError

_C = TypeVar("_C", bound=BaseModel)


def _apply_override(data: dict, item: str, source: str) -> None:
    if "=" not in item:
        raise ConfigError(f"Override {item!r} is not of the form key.path=value (e.g. optim.lr=3e-4).")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    node = data
    parts = key.strip().split(".")
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            node[p] = {} if node.get(p) is None else node[p]
            if not isinstance(node[p], dict):
                raise ConfigError(f"Override {item!r}: {p!r} in {source} is not a section.")
        node = node[p]
    node[parts[-1]] = value


@overload
def load_config(
    path: str | os.PathLike[str] | None, overrides: list[str] | None = None, schema: None = None, *, data: dict | None = None
) -> RunConfig | CompareConfig: ...


@overload
def load_config(path: str | os.PathLike[str] | None, overrides: list[str] | None, schema: type[_C], *, data: dict | None = None) -> _C: ...


@overload
def load_config(path: str | os.PathLike[str] | None, *, schema: type[_C], data: dict | None = None) -> _C: ...


def load_config(
    path: str | os.PathLike[str] | None,
    overrides: list[str] | None = None,
    schema: type[BaseModel] | None = None,
    *,
    data: dict | None = None,
) -> BaseModel:
    """Load and validate a YAML config, applying ``key.path=value`` overrides first.

    Without ``schema`` the kind of config is read from its sections, so every file a
    command accepts loads here too: a ``distill`` section makes a :class:`DistillRunConfig`
    (``distill``, ``cache-teacher``), ``teacher`` plus ``student`` a :class:`CompareConfig`
    (``compare``), anything else a :class:`RunConfig` (``train-teacher``).

    Raises:
        ConfigError: naming the file and field, with the closest valid key for typos.
    """
    source = str(path) if path is not None else "<config>"
    if data is None:
        if path is None:
            raise ConfigError("No configuration given: pass --config FILE.")
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"Config file {p} does not exist. Start from one in examples/configs/.")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f", line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{p}{line}: not valid YAML ({getattr(exc, 'problem', exc)}). Check indentation and colons.") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{p} is not UTF-8 text.") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections, got {type(data).__name__}.")
    data = yaml.safe_load(yaml.safe_dump(data))  # deep copy of plain data
    for item in overrides or []:
        _apply_override(data, item, source)
    if schema is None:
        schema = DistillRunConfig if "distill" in data else CompareConfig if {"teacher", "student"} <= set(data) else RunConfig
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source, schema)) from None


def dump_config(cfg: BaseModel) -> str:
    """The resolved config as YAML (what a run saves beside its outputs)."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
