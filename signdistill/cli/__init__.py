"""The ``signdistill`` command line: a thin Typer layer over :mod:`signdistill.pipelines`.

Every user error ends in one readable message and exit code 2, without a traceback. One module
per command group (:mod:`.train`, :mod:`.decode`, :mod:`.data`, :mod:`.deploy`, :mod:`.compare`),
each command ``options -> one library call -> one render call``; :mod:`.render` prints.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from signdistill import __version__
from signdistill.cli import render
from signdistill.errors import SignDistillError


def _flags_take_no_value_in_help() -> None:
    """Render boolean flags as flags in the rich help (``--overwrite``, not ``--overwrite <bool>``).

    Since Typer 0.29 (which vendors click) the rich help panel asks every option for its type
    label, flags included, so ``--help`` itself reads ``--help <bool>``, as if it took a value;
    Typer's plain help and its documented examples show no type for a flag. Nothing in our
    options sets a metavar: this asks Typer's own option class for no label on flags, once.
    """
    try:
        from typer.core import TyperOption
    except ImportError:  # an older Typer: its rich help never labelled flags
        return
    original = getattr(TyperOption, "display_type_rich", None)
    if original is None or getattr(original, "_flags_unlabelled", False):
        return

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False) and self.metavar is None:
            return None
        return original(self, ctx)

    display_type_rich._flags_unlabelled = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_take_no_value_in_help()

app = typer.Typer(
    name="signdistill",
    help="Train CTC models for continuous sign language recognition and distill a teacher into a small student.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
F = TypeVar("F", bound=Callable[..., Any])

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="YAML run configuration.")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", "-s", help="Override a config value: key.path=value (repeatable).")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Delete a run folder that holds a different run.")]


# Commands whose work survives an interrupted write: they resume from their last checkpoint.
_RESUMING = {"train_teacher", "distill", "compare", "quickstart"}


def handle_errors(fn: F) -> F:
    """Turn user errors into a message and exit code 2 (no traceback)."""
    resumes = fn.__name__ in _RESUMING
    after = (
        "no half-written file was left and the last complete checkpoint is intact; fix the cause and run the same command "
        "again (training resumes)."
        if resumes
        else "no half-written file was left and what existed before is intact; fix the cause and run the same command again."
    )

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SignDistillError as exc:
            render.fail(str(exc), code=getattr(exc, "exit_code", 2))
        except OSError as exc:  # a full disk, a vanished file, a permission: say so, no traceback
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            render.fail(f"{exc.strerror or exc}{where}. Outputs are written to a temporary name and then renamed, so {after}")
        except KeyboardInterrupt:
            render.fail("interrupted.", code=130)

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"signdistill {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def main() -> None:
    """Console-script entry point."""
    app()


# The commands use the names above, so they are imported (and registered, in --help order) last.
from signdistill.cli import compare, data, decode, deploy, train  # noqa: E402

for _name, _command in (
    ("train-teacher", train.train_teacher),
    ("distill", train.distill),
    ("cache-teacher", train.cache_teacher),
    ("import-teacher", train.import_teacher),
    ("evaluate", decode.evaluate),
    ("tune-decoder", decode.tune_decoder),
    ("report", decode.report),
    ("export", deploy.export),
    ("benchmark", deploy.benchmark),
    ("compare", compare.compare),
    ("quickstart", compare.quickstart),
    ("transcribe", decode.transcribe),
):
    app.command(_name)(_command)
app.add_typer(data.app, name="data")
app.add_typer(decode.lm_app, name="lm")

__all__ = ["ConfigOpt", "OverwriteOpt", "SetOpt", "app", "handle_errors", "main"]
