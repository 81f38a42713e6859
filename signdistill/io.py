"""Atomic file and folder writes: a crash leaves either the old file or the new one."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def replace_dir_atomic(target: str | os.PathLike[str], fill: Callable[[Path], None]) -> Path:
    """Build a folder with ``fill(tmp_dir)`` and swap it in for ``target``.

    The previous ``target`` is kept as ``target.old`` until the new one is in place, so
    a crash at any moment leaves one complete folder (``load`` falls back to ``.old``).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    old = target.with_name(target.name + ".old")
    try:
        fill(tmp)
        if old.exists():
            shutil.rmtree(old)
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_dir(path: str | os.PathLike[str]) -> Path:
    """Return ``path``, or its ``.old`` sibling left by an interrupted swap."""
    p = Path(path)
    if not p.exists():
        old = p.with_name(p.name + ".old")
        if old.exists():
            return old
    return p
