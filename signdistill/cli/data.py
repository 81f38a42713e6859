"""``signdistill data``: create and validate datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from signdistill.cli import handle_errors, render
from signdistill.errors import SignDistillError

app: typer.Typer = typer.Typer(help="Create and validate datasets.", no_args_is_help=True)


@app.command("synth")
@handle_errors
def data_synth(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write manifests and features to.")],
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")] = 0,
    size: Annotated[
        str, typer.Option(help="tiny, small, quickstart, weather (earlier default), default, or distinct (no homonyms; docs/data.md).")
    ] = "default",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a dataset data synth wrote before (only that).")] = False,
    unlabeled: Annotated[
        int,
        typer.Option(
            help="Also write unlabeled.jsonl (N new sentences by the training signers) and unlabeled_new.jsonl "
            "(N by new signers) for data.unlabeled (docs/unlabeled.md).",
            min=0,
        ),
    ] = 0,
) -> None:
    """Generate the embedded synthetic keypoint dataset (train/dev/test manifests)."""
    from signdistill.data.synth import SIZES, generate, kept_files

    if size not in SIZES:
        raise SignDistillError(f"--size {size!r} is not one of {sorted(SIZES)}.")
    import signal

    from signdistill.signals import handling

    def _term(signum: int, frame: object) -> None:  # SIGTERM cleans up like Ctrl-C (the temporary folder goes)
        err = SignDistillError("data synth: stopped by SIGTERM; nothing was written.")
        err.exit_code = 128 + signum  # type: ignore[attr-defined]
        raise err

    splits = [Path(out) / f"{s}.jsonl" for s in ("train", "dev", "test")]
    before = [p.read_bytes() if p.is_file() else None for p in splits]
    with handling(_term, signal.SIGTERM):
        manifests = generate(out, seed=seed, size=size, overwrite=overwrite, unlabeled=unlabeled)
    render.manifests(manifests)
    if overwrite and (kept := kept_files(out)):
        same = before == [p.read_bytes() for p in splits]  # e.g. --unlabeled added to the same data: nothing is stale
        why = "the train/dev/test manifests are byte-identical to before" if same else "anything built from the data before is stale"
        render.note(f"kept in {out} (not written by data synth): {', '.join(kept)}; {why}.")


@app.command("check")
@handle_errors
def data_check(
    manifest: Annotated[Path, typer.Argument(help="JSONL manifest to validate.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report as JSON.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an earlier --json report of this command (only that).")] = False,
) -> None:
    """Validate a dataset (lines, files, NaN/inf, dimensions, CTC lengths) and print statistics; lists every problem."""
    from signdistill.data.check import CheckReport, check_manifest
    from signdistill.data.manifest import manifest_problems
    from signdistill.errors import DataError
    from signdistill.io import check_file_output, own_json, refuse_output_clashes, write_json_atomic

    refuse_output_clashes([("--json", json_out)], [("manifest", manifest)])
    check_file_output(json_out, "--json", overwrite, own_json({"manifest", "ok", "problems", "stats"}), "a data check --json report")
    try:
        report = check_manifest(manifest)
    except DataError:
        lines = manifest_problems(manifest) if manifest.is_file() else []
        if len(lines) < 2:  # one problem (or a file that cannot be read): its message says it all
            raise
        # Bad lines stop the per-utterance checks; list every one of them (not only the first).
        report = CheckReport(manifest=manifest, problems=lines, stats={"lines with problems": len(lines)})
    if json_out:
        write_json_atomic(json_out, report.to_dict())
    render.data_check(manifest, report)


@app.command("import-phoenix")
@handle_errors
def data_import_phoenix(
    annotations: Annotated[Path, typer.Option("--annotations", help="Folder of train/dev/test annotation files (or one file).")],
    features: Annotated[Path, typer.Option("--features", help="Folder of per-utterance features (<split>/<id>.npy or <id>.npy).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the manifests.")],
    suffix: Annotated[str, typer.Option(help="Feature file suffix.")] = ".npy",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a previous import at --out (only that).")] = False,
) -> None:
    """Turn a PHOENIX-2014 / PHOENIX-2014-T / CSL-Daily annotation folder plus features into manifests."""
    from signdistill.data.corpus import import_corpus_to

    report = import_corpus_to(annotations, features, out, suffix=suffix, overwrite=overwrite)
    render.corpus_import(report, annotations, features, out)
