"""Decoding workflows: evaluate a checkpoint, build a gloss LM, tune a beam search, compare runs in a report.

The network runs once per checkpoint and manifest (:func:`model_outputs`); greedy and beam
search both decode its outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from signdistill.data import SignDataset, read_manifest
from signdistill.decoding import decode_log_probs
from signdistill.defaults import BEAM_BACKEND, BEAM_WIDTH
from signdistill.errors import ConfigError, SignDistillError
from signdistill.evaluation.report import ReportRow
from signdistill.evaluation.scoring import DecodingScore, score_decoding
from signdistill.formats import load_model, model_kind
from signdistill.inference import resolve_device
from signdistill.io import write_text_atomic
from signdistill.pipelines.decoding_results import EvalResult, LmBuildResult, ReportResult, TuningResult, TuningRow
from signdistill.runner import Model, run_all

if TYPE_CHECKING:
    from signdistill.decoding.beam import DecoderConfig


@dataclass
class ModelOutputs:
    """A model's log-probs over a manifest, computed once and decoded as often as needed.

    Attributes:
        model: the model that ran (any format; ``model.kind`` says which).
        log_probs: one ``(T_i, V)`` float32 array per utterance, in manifest order.
        refs, ids, signers: each utterance's reference glosses, id and signer.
    """

    model: Model
    log_probs: list[np.ndarray]
    refs: list[list[str]]
    ids: list[str]
    signers: list[str | None]


def model_outputs(checkpoint: str | Path, manifest: str | Path, *, batch_size: int = 32, device: str = "auto") -> ModelOutputs:
    """Run a checkpoint (or any export) over a manifest once, in length buckets of ``batch_size``.

    An fp32 checkpoint runs on ``device``; exports (ONNX, fp16, int8) run on the CPU, as deployed.
    """
    try:
        kind = model_kind(checkpoint)
    except SignDistillError:
        from signdistill.checkpoint import load_checkpoint

        load_checkpoint(checkpoint)  # its message says what is wrong with a checkpoint folder
        raise
    dev = resolve_device(device, "--device") if kind == "fp32" else "cpu"
    model = load_model(checkpoint, device=dev)
    data = SignDataset(read_manifest(manifest), model.vocab, model.normalizer, source=str(manifest))
    log_probs = run_all(model, [data.features(i).numpy() for i in range(len(data))], batch_size, by_length=True)
    utts = data.utterances
    return ModelOutputs(model, log_probs, [list(u.glosses) for u in utts], [u.id for u in utts], [u.signer for u in utts])


def evaluate(
    checkpoint: str | Path,
    manifest: str | Path,
    *,
    batch_size: int = 32,
    device: str = "auto",
    decoder: DecoderConfig | None = None,
    compare_greedy: bool = False,
    cleanup: bool = False,
    processes: int = 1,
    stm: str | Path | None = None,
    ctm: str | Path | None = None,
) -> EvalResult:
    """Decode ``manifest`` with a checkpoint and score it (WER, S/D/I, SER, per signer).

    The network runs once; greedy and beam search (``decoder``, a
    :class:`~signdistill.decoding.beam.DecoderConfig`) both read its outputs. ``cleanup``
    applies the PHOENIX-2014 evaluation rewrites to references and hypotheses. ``stm`` / ``ctm``
    (sclite references and hypotheses) are refused when they name an input or each other.

    Returns:
        An :class:`~signdistill.pipelines.decoding_results.EvalResult`; its ``to_dict()`` is
        what ``evaluate --json`` writes.
    """
    from signdistill.evaluation.sclite import write_ctm, write_stm
    from signdistill.io import refuse_output_clashes

    refuse_output_clashes([("--stm", stm), ("--ctm", ctm)], [("--checkpoint", checkpoint), ("--manifest", manifest)])
    outs = model_outputs(checkpoint, manifest, batch_size=batch_size, device=device)
    result = score_outputs(outs, decoder=decoder, compare_greedy=compare_greedy, cleanup=cleanup, processes=processes)
    result = replace(result, checkpoint=str(checkpoint), manifest=str(manifest))
    if stm is not None:
        from signdistill.evaluation.phoenix import phoenix_cleanup

        write_stm(stm, outs.ids, [phoenix_cleanup(r) if cleanup else r for r in outs.refs], outs.signers)
    if ctm is not None:
        write_ctm(ctm, outs.ids, [h.split() for h in result.hypotheses.values()])
    return result


def score_outputs(
    outs: ModelOutputs, *, decoder: DecoderConfig | None = None, compare_greedy: bool = False, cleanup: bool = False, processes: int = 1
) -> EvalResult:
    """:func:`evaluate`'s figures from outputs already computed: greedy and/or beam search, scored;
    the main decoder is beam search when ``decoder`` is given (the result has no checkpoint or manifest)."""
    tokens = outs.model.vocab.tokens
    runs: dict[str, list[list[str]]] = {}
    if decoder is None or compare_greedy:
        runs["greedy"] = decode_log_probs(outs.log_probs, tokens, None)
    if decoder is not None:
        runs["beam"] = decode_log_probs(outs.log_probs, tokens, decoder, processes=processes)
    scores = {name: score_decoding(outs.refs, hyps, outs.ids, outs.signers, cleanup=cleanup) for name, hyps in runs.items()}
    return EvalResult(
        format=outs.model.kind,  # as deployed: fp32, fp16, int8, onnx, onnx-int8-dynamic, ...
        parameters=outs.model.num_parameters(),
        cleanup="phoenix" if cleanup else None,
        scores=scores,
        decoding="beam" if decoder is not None else "greedy",
        decoder=decoder,
    )


def build_lm(manifest: str | Path, out: str | Path, *, order: int = 3, cleanup: bool = False, overwrite: bool = False) -> LmBuildResult:
    """Estimate a gloss n-gram LM (modified Kneser-Ney) from a manifest's transcripts; write ARPA.

    An existing ``out`` is replaced only when it is an LM ``lm build`` wrote and ``overwrite`` is set.
    """
    from signdistill.decoding.lm import build_arpa, is_own_arpa
    from signdistill.evaluation.phoenix import phoenix_cleanup
    from signdistill.io import check_output_path, refuse_output_clashes

    if order < 1 or order > 10:
        raise ConfigError(f"--order must be between 1 and 10, got {order}.")
    refuse_output_clashes([("--out", out)], [("--manifest", manifest)])
    check_output_path(out, kind="language model", overwrite=overwrite, is_ours=is_own_arpa, folder=False)
    utts = read_manifest(manifest)
    transcripts = [phoenix_cleanup(u.glosses) if cleanup else list(u.glosses) for u in utts]
    build_arpa(transcripts, out, order=order)
    return LmBuildResult(str(manifest), str(out), order, len(transcripts), len({g for t in transcripts for g in t}))


def parse_grid(spec: str, name: str) -> list[float]:
    """``"0:2:0.5"`` (start:stop:step, inclusive) or ``"0,0.5,1"``."""
    try:
        if ":" in spec:
            start, stop, step = (float(x) for x in spec.split(":"))
            if step <= 0:
                raise ValueError
            n = int(round((stop - start) / step))
            return [round(start + i * step, 10) for i in range(n + 1)]
        return [float(x) for x in spec.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--{name} {spec!r} is not a range start:stop:step (step > 0) or a list a,b,c.") from None


def tune_decoder(
    checkpoint: str | Path,
    manifest: str | Path,
    lm: str | Path,
    out: str | Path,
    *,
    alphas: list[float],
    betas: list[float],
    beam_width: int = BEAM_WIDTH,
    backend: str = BEAM_BACKEND,
    search: str = "grid",
    trials: int = 20,
    seed: int = 0,
    cleanup: bool = False,
    batch_size: int = 32,
    device: str = "auto",
    on_progress: Callable[[int, int, dict[str, Any]], None] | None = None,
    json_out: str | Path | None = None,
    overwrite: bool = False,
) -> TuningResult:
    """Search alpha/beta on a (dev) manifest; the network runs once, every setting reuses its outputs.

    Writes the best settings as JSON to ``out`` (``evaluate --decoder-config`` reads it) and,
    with ``json_out``, the whole table there; returns the table of every setting tried, plus
    greedy WER for reference. Existing ``out`` / ``json_out`` files are replaced only when
    tune-decoder wrote them and ``overwrite`` is set; neither may be an input. ``on_progress(done,
    total, best)`` is called once before the search (``done`` 0, ``best`` empty) and after
    every setting tried, with the best row so far (``alpha``, ``beta``, ``wer``).

    Returns:
        A :class:`~signdistill.pipelines.decoding_results.TuningResult`; its ``to_dict()`` is what
        ``json_out`` holds.
    """
    from signdistill.decoding.beam import DecoderConfig
    from signdistill.decoding.lm import check_lm_file
    from signdistill.io import write_json_atomic

    if search not in ("grid", "random"):
        raise ConfigError(f"--search must be grid or random, got {search!r}.")
    _check_tuning_outputs(checkpoint, manifest, lm, out, json_out, overwrite)
    check_lm_file(lm)  # before the network runs over the whole manifest
    grid = _tuning_grid(alphas, betas, search, trials, seed)
    outs = model_outputs(checkpoint, manifest, batch_size=batch_size, device=device)  # checks checkpoint and manifest
    if on_progress is not None:  # only now: a bar started earlier leaves a line behind an input error
        on_progress(0, len(grid), {})

    def wer_of(cfg: DecoderConfig | None) -> float:
        hyps = decode_log_probs(outs.log_probs, outs.model.vocab.tokens, cfg)
        return score_decoding(outs.refs, hyps, outs.ids, outs.signers, cleanup=cleanup, with_jiwer=False).wer

    def rank(r: TuningRow) -> tuple[float, float, float]:
        return (r.wer, r.alpha, abs(r.beta))

    greedy = wer_of(None)
    table: list[TuningRow] = []
    for a, b in grid:
        table.append(TuningRow(a, b, wer_of(DecoderConfig(beam_width=beam_width, alpha=a, beta=b, lm=str(lm), backend=backend))))
        if on_progress is not None:
            on_progress(len(table), len(grid), min(table, key=rank).to_dict())
    best = min(table, key=rank)
    # The LM path is stored absolute: the decoder config then works from any folder.
    best_cfg = DecoderConfig(beam_width=beam_width, alpha=best.alpha, beta=best.beta, lm=str(Path(lm).absolute()), backend=backend)
    write_json_atomic(out, best_cfg.to_dict())
    result = TuningResult(greedy, table, best, str(out))
    if json_out is not None:
        write_json_atomic(json_out, result.to_dict())
    return result


def _tuning_grid(alphas: list[float], betas: list[float], search: str, trials: int, seed: int) -> list[tuple[float, float]]:
    """Every (alpha, beta) of the grid, or ``trials`` drawn uniformly within its ranges (``search="random"``)."""
    if search != "random":
        return [(a, b) for a in alphas for b in betas]
    import random

    rng = random.Random(seed)
    lo_a, hi_a, lo_b, hi_b = min(alphas), max(alphas), min(betas), max(betas)
    return [(round(rng.uniform(lo_a, hi_a), 4), round(rng.uniform(lo_b, hi_b), 4)) for _ in range(trials)]


def is_tuning_table(path: str | Path) -> bool:
    """True for a JSON file as ``tune-decoder --json`` writes it (its keys and a list of settings)."""
    import json

    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(d, dict) and set(d) == {"greedy_wer", "table", "best", "decoder_config"} and isinstance(d["table"], list)


def _check_tuning_outputs(
    checkpoint: str | Path, manifest: str | Path, lm: str | Path, out: str | Path, json_out: str | Path | None, overwrite: bool
) -> None:
    """Refuse, before the network runs, outputs that are inputs or that tune-decoder did not write."""
    from signdistill.decoding.beam import is_decoder_config
    from signdistill.io import check_output_path, refuse_output_clashes

    inputs = [("--checkpoint", checkpoint), ("--manifest", manifest), ("--lm", lm)]
    refuse_output_clashes([("--out", out), ("--json", json_out)], inputs)
    check_output_path(out, kind="decoder config", overwrite=overwrite, is_ours=is_decoder_config, folder=False)
    if json_out is not None:
        check_output_path(json_out, kind="tune-decoder table", overwrite=overwrite, is_ours=is_tuning_table, folder=False)


def report(
    runs: dict[str, Path],
    manifest: str | Path,
    out: str | Path,
    *,
    decoder: DecoderConfig | None = None,
    utterance: str | None = None,
    cleanup: bool = False,
    device: str = "auto",
    overwrite: bool = False,
) -> ReportResult:
    """Compare runs (or checkpoints) on one manifest: Markdown/JSON table and PNG plots.

    ``runs`` maps a display name to a run folder (its ``best/`` is used) or a checkpoint folder.
    An existing ``out`` is refused unless it is empty or a previous report (replaced with ``overwrite``).

    Returns:
        A :class:`~signdistill.pipelines.decoding_results.ReportResult`; its ``to_dict()`` is ``report.json``.
    """
    from signdistill.evaluation.report import PLOTS_SKIPPED, is_report, markdown_table, plot_all, plots_available
    from signdistill.io import check_output_path, refuse_output_clashes, write_json_atomic

    refuse_output_clashes([("--out", out)], [("--manifest", manifest), *((f"--run {name}", p) for name, p in runs.items())])
    check_output_path(out, kind="report", overwrite=overwrite, is_ours=is_report)
    out = Path(out)
    rows: list[ReportRow] = []
    posteriors: dict[str, np.ndarray] = {}
    utt_info: dict[str, Any] = {}
    run_dirs: dict[str, Path] = {}
    for name, path in runs.items():
        path = Path(path)
        ckpt_dir = path / "best" if (path / "best").is_dir() else path
        run_dirs[name] = path if (path / "best").is_dir() else path.parent
        outs = model_outputs(ckpt_dir, manifest, device=device)  # the network runs once per model
        res = score_outputs(outs, decoder=decoder, compare_greedy=True, cleanup=cleanup)
        rows += [_report_row(name, dec, res.parameters, sc) for dec, sc in res.scores.items()]
        idx = 0
        if utterance is not None:
            if utterance not in outs.ids:
                raise ConfigError(f"--utterance {utterance!r} is not in {manifest}.")
            idx = outs.ids.index(utterance)
        posteriors[name] = outs.log_probs[idx]  # (T, V)
        tokens = outs.model.vocab.tokens
        ref = outs.refs[idx]
        utt_info = {"id": outs.ids[idx], "reference": ref, "reference_ids": outs.model.vocab.encode(ref), "tokens": tokens}
    table = markdown_table(rows)
    out.mkdir(parents=True, exist_ok=True)  # only now: a run that cannot be scored leaves no folder behind
    write_text_atomic(out / "report.md", f"# signdistill report\n\nmanifest: `{manifest}`\n\n{table}")
    plots = plot_all(rows, run_dirs, posteriors, utt_info, out)
    skipped = None if plots_available() else PLOTS_SKIPPED
    result = ReportResult(str(manifest), rows, [str(p) for p in plots], utt_info.get("id"), skipped)
    write_json_atomic(out / "report.json", result.to_dict())
    return result


def _report_row(model: str, decoder: str, parameters: int, sc: DecodingScore) -> ReportRow:
    """One row of the report's table."""
    return ReportRow(model, decoder, parameters, sc.wer, sc.substitutions, sc.deletions, sc.insertions, sc.sentence_error_rate)
