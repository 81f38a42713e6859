"""Safe writes: atomic files and folders (a crash leaves either the old one or the new one), and the
checks every writer makes first (never replace what is not ours, never write onto an input)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from signdistill.errors import ConfigError


def _umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_mode(*, directory: bool = False) -> int:
    """The mode a plain ``open()`` / ``mkdir()`` would give: 0666 / 0777 less the umask.

    Temporary files and folders are created 0600 / 0700; atomic writes set this mode on
    them before the swap, so finished outputs are as readable as any other file.
    """
    return (0o777 if directory else 0o666) & ~_umask()


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    The file ends with the umask's mode (e.g. 0644), not the temporary file's 0600.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, default_mode())
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
    The folder and everything in it end with the umask's mode (e.g. 0755 / 0644), not
    the temporary folder's 0700 or a writer's 0600.
    Only folders are swapped: a file or symbolic link at ``target`` or ``target.old`` is
    refused before anything is touched (callers decide with :func:`check_output_path`
    whether an existing folder may be replaced).
    """
    target = Path(target)
    for p in (target, target.with_name(target.name + ".old")):
        if p.is_symlink() or (p.exists() and not p.is_dir()):
            raise ConfigError(f"{p} exists and is not a folder; refusing to replace it. Pick another path.")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    old = target.with_name(target.name + ".old")
    try:
        fill(tmp)
        # Some writers (safetensors' save_file) write through a 0600 temporary file of their own.
        for p in [tmp, *tmp.rglob("*")]:
            if not p.is_symlink():
                os.chmod(p, default_mode(directory=p.is_dir()))
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


def check_output_path(
    path: str | os.PathLike[str],
    *,
    kind: str,
    overwrite: bool,
    is_ours: Callable[[Path], bool],
    folder: bool = True,
    swap: bool = False,
) -> bool:
    """Refuse an output path whose writing would overwrite or delete something not ours.

    Call it before anything is written. ``kind`` names the output in messages ("export",
    "language model", ...). A path that does not exist, or (``folder``) an empty folder,
    is free. A path for which ``is_ours(path)`` holds, this package's own previous output
    of the same kind, is replaced only with ``overwrite``. Anything else (another
    tool's file or folder, a file where a folder goes, a symbolic link where a folder is
    swapped in) is refused, ``overwrite`` or not. ``swap``: the folder is swapped in by
    :func:`replace_dir_atomic`, which also replaces ``<path>.old``; that is checked too.

    Returns True when an own previous output is to be replaced. Raises
    :class:`ConfigError` (the CLI exits 2) naming the path and ``--overwrite``.
    """
    target = Path(path)
    replacing = False
    for p in [target, target.with_name(target.name + ".old")] if swap else [target]:
        if not os.path.lexists(p):
            continue
        link = p.is_symlink()
        if folder and not link and p.is_dir() and not any(p.iterdir()):
            continue
        what = "a symbolic link" if link else "a folder" if p.is_dir() else "a file"
        ours = not (swap and link) and (p.is_dir() if folder else p.is_file()) and is_ours(p)
        if not ours:
            if overwrite:
                raise ConfigError(
                    f"{p} already exists and is {what} that is not a previous signdistill {kind}; --overwrite replaces "
                    f"only a previous {kind}, so nothing was changed. Pick another path, or move {p} away first."
                )
            raise ConfigError(
                f"{p} already exists and is {what} that is not a previous signdistill {kind}; nothing was changed. "
                f"Pick another path (--overwrite replaces only a previous {kind})."
            )
        if not overwrite:
            raise ConfigError(
                f"{p} already holds a previous signdistill {kind}; nothing was changed. "
                "Pass --overwrite to replace it, or pick another path."
            )
        replacing = True
    return replacing


def resolve_dir(path: str | os.PathLike[str]) -> Path:
    """Return ``path``, or its ``.old`` sibling left by an interrupted swap."""
    p = Path(path)
    if not p.exists():
        old = p.with_name(p.name + ".old")
        if old.exists():
            return old
    return p


def unexpected_files(root: str | os.PathLike[str], own: Callable[[str], bool]) -> list[str]:
    """Paths under ``root`` (relative, ``/``-separated) that ``own(relpath)`` does not recognise.

    Used before ``--overwrite`` deletes a previous output: anything a user added inside it
    (notes, scripts, extra files) is reported instead of deleted. Symbolic links are checked
    as entries, never followed.
    """
    root = Path(root)
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        for name in list(dirnames):
            if (Path(dirpath) / name).is_symlink():
                dirnames.remove(name)
                filenames.append(name)
        for name in filenames:
            rel = (rel_dir / name).as_posix()
            if not own(rel):
                found.append(rel)
    return sorted(found)


def refuse_unexpected(root: str | os.PathLike[str], own: Callable[[str], bool], kind: str) -> None:
    """Raise if ``--overwrite`` would delete files under ``root`` that the previous ``kind`` did not write."""
    extra = unexpected_files(root, own)
    if extra:
        shown = ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
        raise ConfigError(
            f"{root} holds a previous signdistill {kind}, but also {shown}, which it did not write; --overwrite "
            "would delete them, so nothing was changed. Move them away, or pick another path."
        )


def check_file_output(
    path: str | os.PathLike[str] | None, option: str, overwrite: bool, is_ours: Callable[[Path], bool] | None = None, kind: str = ""
) -> None:
    """Refuse to replace an existing file named by ``option`` (e.g. ``--json``) unless ``overwrite``, and even then
    unless ``is_ours`` recognises it as this command's own earlier output (``kind`` names it in the message)."""
    if path is None:
        return
    p = Path(path)
    if os.path.lexists(p):
        if p.is_dir():
            raise ConfigError(f"{option} {p} is a folder; give a file path. Nothing was changed.")
        if is_ours is not None and not (p.is_file() and (p.stat().st_size == 0 or is_ours(p))):
            raise ConfigError(  # said first: "pass --overwrite" would send the user to a second refusal
                f"{option} {p} exists and is not {kind or 'an output'} that signdistill wrote; --overwrite replaces only that, "
                "so nothing was changed. Pick another path, or move the file away."
            )
        if not overwrite:
            raise ConfigError(f"{option} {p} already exists; nothing was changed. Pass --overwrite to replace it, or pick another path.")


def own_json(keys: Iterable[str] = (), check: Callable[[Any], bool] | None = None) -> Callable[[Path], bool]:
    """A recogniser for :func:`check_file_output`: a JSON file holding an object with every one of ``keys``
    (and for which ``check`` holds)."""
    wanted = set(keys)

    def recognise(path: Path) -> bool:
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(obj, dict) and wanted <= set(obj) and (check is None or check(obj))

    return recognise


def own_lines(*patterns: str) -> Callable[[Path], bool]:
    """A recogniser for :func:`check_file_output`: a text file whose every non-empty line matches one of the
    regular expressions ``patterns`` (the line formats the command writes)."""
    import re

    compiled = [re.compile(p) for p in patterns]

    def recognise(path: Path) -> bool:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, ValueError):
            return False
        return all(any(c.fullmatch(ln) for c in compiled) for ln in lines if ln.strip())

    return recognise


Named = Iterable[tuple[str, "str | os.PathLike[str] | None"]]


def same_path(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True when ``a`` and ``b`` name one file or folder: the same path once resolved, or (where both
    exist) the same file through a symbolic or hard link."""
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return Path(a).resolve() == Path(b).resolve()


def _manifest_features(manifest: Path) -> list[Path]:
    """The feature files a JSONL manifest names (resolved against its folder); unreadable lines are skipped."""
    found = []
    try:
        lines = manifest.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("features"), str):
            f = Path(entry["features"])
            found.append(f if f.is_absolute() else manifest.parent / f)
    return found


def refuse_inputs_inside(label: str, folder: str | os.PathLike[str], inputs: Named) -> None:
    """Refuse an output folder that holds one of the command's inputs (``--overwrite`` would delete it)."""
    root = Path(folder).resolve()
    for in_label, p in inputs:
        if p is None:
            continue
        q = Path(p).resolve()
        if q == root or root in q.parents:
            raise ConfigError(
                f"{label} {folder} holds {in_label} {p}, which this command reads: writing the run there could replace or delete "
                f"it, so nothing was changed (--overwrite does not change this). Pick another {label}."
            )


def refuse_output_clashes(outputs: Named, inputs: Named = ()) -> None:
    """Refuse an output that is one of the command's inputs or another of its outputs, ``--overwrite`` or not.

    ``outputs`` and ``inputs`` are ``(label, path)`` pairs (``("--json", path)``, ``("--manifest",
    path)``); a None path is skipped. An input folder (a checkpoint, a folder of features) stands
    for itself and the files directly inside it. Call it before anything is read or written.
    Raises :class:`ConfigError` naming both options and paths.
    """
    outs = [(label, p) for label, p in outputs if p is not None]
    ins: list[tuple[str, str | os.PathLike[str]]] = []
    for label, p in inputs:
        if p is not None:
            ins.append((label, p))
            if os.path.isdir(p):
                ins += [(f"{label} (the file inside)", f) for f in Path(p).iterdir() if f.is_file()]
            elif str(p).endswith(".jsonl") and os.path.isfile(p):
                ins += [(f"a feature file of {label}", f) for f in _manifest_features(Path(p))]
    for i, (label, out) in enumerate(outs):
        for in_label, inp in ins:
            if same_path(out, inp):
                raise ConfigError(
                    f"{label} {out} is the same file as {in_label} {inp}: writing it would destroy that input, so nothing was "
                    f"changed (--overwrite does not change this). Pick another path for {label}."
                )
        for other_label, other in outs[i + 1 :]:
            if same_path(out, other):
                raise ConfigError(
                    f"{label} {out} and {other_label} {other} are the same file: one output would replace the other, so nothing "
                    "was changed. Give each output its own path."
                )
