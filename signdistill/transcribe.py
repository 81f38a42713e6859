"""Transcribe feature files with a checkpoint or any export (``signdistill transcribe``).

A model folder is a checkpoint or an export of any format; the format is read from the
folder's metadata (``model.json`` of an ONNX export, ``checkpoint.json``'s ``meta`` for the
others), never from its name. An ONNX export runs with numpy and onnxruntime alone: this
module imports torch only for the other formats.

Each output gloss comes with the frames it covers and a confidence:

* ``start`` / ``end``: the first frame and one past the last frame (0-based, at the feature
  rate) that the best CTC alignment of the transcript assigns to the gloss. For greedy
  decoding that alignment is the best path itself (argmax per frame): a gloss covers its
  run of identical argmax frames. For beam search it is the Viterbi forced alignment of the
  beam's transcript to the posteriors. CTC posteriors are peaky, so most glosses cover one
  or a few frames (a spike), not the whole sign.
* ``confidence``: the mean posterior probability of the gloss over those frames, in (0, 1].
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from signdistill.data.manifest import load_features
from signdistill.data.normalizer import Normalizer
from signdistill.data.vocab import Vocabulary
from signdistill.errors import CheckpointError, DataError, SignDistillError
from signdistill.io import resolve_dir

FORMATS = ("text", "jsonl", "ctm")
FEATURE_SUFFIXES = (".npy", ".pose")
MANIFEST_SUFFIXES = (".jsonl",)
ONNX_META = "model.json"  # the same names as signdistill.export, which imports torch
ONNX_FILE = "model.onnx"
CHECKPOINT_META = "checkpoint.json"


# -- the model ---------------------------------------------------------------------------------


def model_format(path: str | os.PathLike[str]) -> str:
    """``"onnx"``, ``"int8"``, ``"fp16"`` or ``"fp32"`` (checkpoints and safetensors exports),
    read from the folder's metadata; raises :class:`CheckpointError` for any other folder."""
    path = resolve_dir(path)
    if not path.is_dir():
        raise CheckpointError(
            f"Model folder {path} does not exist. Point --model at a checkpoint (runs/<name>/best) or a folder written by "
            "`signdistill export`."
        )
    for name in (ONNX_META, CHECKPOINT_META):
        if not (path / name).is_file():
            continue
        try:
            info = json.loads((path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{path / name} is damaged ({exc}); export or train the model again.") from None
        if not isinstance(info, dict):
            raise CheckpointError(f"{path / name} is not a signdistill model description; export or train the model again.")
        if name == ONNX_META:
            if info.get("format") != "onnx":
                raise CheckpointError(f"{path / name} names the format {info.get('format')!r}, not 'onnx'; export the model again.")
            return "onnx"
        meta = info.get("meta")
        meta = meta if isinstance(meta, dict) else {}
        if meta.get("quantize") == "dynamic_int8":
            return "int8"
        return "fp16" if meta.get("dtype") == "fp16" else "fp32"
    hint = f"It is a run folder: use --model {path / 'best'}." if (path / "best" / CHECKPOINT_META).is_file() else ""
    raise CheckpointError(
        f"{path} holds neither {CHECKPOINT_META} (a checkpoint or safetensors/int8 export) nor {ONNX_META} (an ONNX export). "
        + (hint or "Point --model at runs/<name>/best or at a folder written by `signdistill export`.")
    )


@dataclass
class Model:
    """A checkpoint or export ready to run: normalized features -> log-probabilities.

    Attributes:
        format: ``fp32``, ``fp16``, ``int8`` or ``onnx``.
        vocab, normalizer: those the model was trained with (read from its folder).
        spec: the model's hyperparameters (``ModelSpec.to_dict()``).
    """

    format: str
    path: Path
    vocab: Vocabulary
    normalizer: Normalizer
    spec: dict[str, Any]
    run: Callable[[np.ndarray, np.ndarray], np.ndarray]

    @property
    def input_dim(self) -> int:
        return self.normalizer.dim

    def log_probs(self, features: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """``features (B, T, D)`` normalized float32, ``lengths (B,)`` -> ``(B, T, V)`` log-probs."""
        return self.run(np.ascontiguousarray(features, dtype=np.float32), np.asarray(lengths, dtype=np.int64))

    def num_parameters(self) -> int:
        """Parameters of the network (the same count as its checkpoint; needs torch)."""
        from signdistill.models import CTCModel, ModelSpec

        return CTCModel(ModelSpec.from_dict(self.spec)).num_parameters()


def _load_onnx(path: Path, threads: int | None) -> Model:
    """An ONNX export with onnxruntime and numpy only."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise SignDistillError("Running an ONNX export needs onnxruntime: pip install 'signdistill[onnx]'") from None
    info = json.loads((path / ONNX_META).read_text(encoding="utf-8"))
    try:
        vocab, normalizer, spec = Vocabulary(info["vocabulary"]), Normalizer.from_dict(info["normalizer"]), dict(info["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path / ONNX_META} lacks or damages {exc}; export the model again.") from None
    if not (path / ONNX_FILE).is_file():
        raise CheckpointError(f"{path} has {ONNX_META} but no {ONNX_FILE}; export the model again.")
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path / ONNX_FILE), opts, providers=["CPUExecutionProvider"])

    def run(features: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return session.run(None, {"features": features, "lengths": lengths})[0]

    return Model("onnx", path, vocab, normalizer, spec, run)


def load_model(path: str | os.PathLike[str], *, threads: int | None = None) -> Model:
    """Load a checkpoint or an export of any format for inference (on the CPU).

    Example:
        >>> model = load_model("exported/onnx")  # doctest: +SKIP
        >>> model.format, model.input_dim  # doctest: +SKIP
        ('onnx', 150)
    """
    fmt = model_format(path)
    path = resolve_dir(path)
    if fmt == "onnx":
        return _load_onnx(path, threads)
    try:
        from signdistill.export import load_inference_model
    except ImportError:
        raise SignDistillError(
            f"{path} is a {fmt} model, which runs with PyTorch, and torch cannot be imported here. Install torch, or export "
            "the model to ONNX (`signdistill export --format onnx`), which runs with onnxruntime alone."
        ) from None
    with warnings.catch_warnings():  # torch's quantization API warns about its own deprecation on every call
        warnings.simplefilter("ignore", category=UserWarning)
        warnings.simplefilter("ignore", category=DeprecationWarning)
        inner = load_inference_model(path, threads=threads)
    return Model(fmt, path, inner.vocab, inner.normalizer, inner.spec.to_dict(), inner.log_probs)


# -- inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputFile:
    """One utterance to transcribe: its output id and its feature file."""

    id: str
    path: Path
    context: str = ""  # where it was listed (a manifest's line), for messages


@dataclass(frozen=True)
class Failure:
    """An input that could not be transcribed: one line that names the file and the fix."""

    path: str
    message: str


def _manifest_inputs(path: Path) -> tuple[list[InputFile], list[Failure]]:
    """The utterances of a JSONL manifest; ``gloss`` is optional, a bad line is one failure."""
    from signdistill.data.manifest import manifest_entries

    items: list[InputFile] = []
    failures: list[Failure] = []
    for where, entry in manifest_entries(path, gloss_required=False):
        if isinstance(entry, str):
            failures.append(Failure(where, entry))
        else:
            items.append(InputFile(entry["id"], entry["path"], f"utterance {entry['id']!r} of {path}"))
    if not items and not failures:
        failures.append(Failure(str(path), f"{path} lists no utterances; add one JSON object per line."))
    return items, failures


def collect_inputs(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[InputFile], list[Failure]]:
    """Expand the command's inputs: ``.npy`` / ``.pose`` files, folders of them (sorted, not
    recursive) and JSONL manifests. A file's id is its name without the suffix (its path
    where two inputs share a name). Inputs that cannot be used become :class:`Failure` s."""
    items: list[InputFile] = []
    failures: list[Failure] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix in FEATURE_SUFFIXES and f.is_file())
            if not found:
                failures.append(Failure(str(p), f"{p} holds no .npy or .pose files; point at the feature files or at their folder."))
            items += [InputFile(f.stem, f) for f in found]
        elif p.suffix in MANIFEST_SUFFIXES and p.is_file():
            got, bad = _manifest_inputs(p)
            items += got
            failures += bad
        elif p.suffix in FEATURE_SUFFIXES:
            items.append(InputFile(p.stem, p))  # a missing file fails when it is read, in its turn
        elif not p.exists():
            failures.append(Failure(str(p), f"{p} does not exist; check the path."))
        else:
            failures.append(Failure(str(p), f"{p} is not a .npy or .pose feature file, a folder of them, or a .jsonl manifest."))
    seen: set[str] = set()
    unique = []
    for item in items:
        if item.id in seen:
            item = InputFile(str(item.path.with_suffix("")), item.path, item.context)
        seen.add(item.id)
        unique.append(item)
    return unique, failures


def _read(item: InputFile, dim: int) -> np.ndarray:
    """Load one input's ``[T, D]`` features; :class:`DataError` with a one-line fix otherwise."""
    if not item.path.is_file():
        where = f" ({item.context})" if item.context else ""
        raise DataError(f"{item.path}{where} does not exist; check the path.")
    try:
        arr = load_features(item.path, context=item.context)
    except DataError as exc:
        msg = str(exc)
        if "not a readable .pose file" in msg:
            msg += " Write it again with pose-format, or leave it out."
        raise DataError(msg) from None
    if arr.shape[0] == 0:
        raise DataError(f"{item.path} has no frames (shape {tuple(arr.shape)}); extract its features again or leave it out.")
    if arr.shape[1] != dim:
        how = "read with the default pose feature spec" if item.path.suffix == ".pose" else "in the file"
        raise DataError(
            f"{item.path} has {arr.shape[1]} features per frame ({how}), but the model expects {dim}; "
            "extract them the way the model's training features were made (same keypoints, same order)."
        )
    return arr


# -- decoding and timing -----------------------------------------------------------------------


@dataclass(frozen=True)
class GlossSegment:
    """One output gloss: ``start`` (first frame), ``end`` (one past the last), mean posterior."""

    gloss: str
    start: int
    end: int
    confidence: float


@dataclass(frozen=True)
class Transcript:
    """The output for one input: its id, its glosses with frames, and its length in frames."""

    id: str
    path: Path
    segments: list[GlossSegment]
    frames: int

    @property
    def glosses(self) -> list[str]:
        return [s.gloss for s in self.segments]


def _segment(log_probs: np.ndarray, label: int, frames: np.ndarray, tokens: Sequence[str]) -> GlossSegment:
    conf = float(np.exp(log_probs[frames, label]).mean())
    return GlossSegment(tokens[label], int(frames[0]), int(frames[-1]) + 1, conf)


def greedy_segments(log_probs: np.ndarray, tokens: Sequence[str], *, blank: int = 0) -> list[GlossSegment]:
    """Greedy CTC decoding of ``log_probs (T, V)`` with each gloss's run of argmax frames."""
    best = log_probs.argmax(-1)  # (T,)
    out: list[GlossSegment] = []
    t, n = 0, best.shape[0]
    while t < n:
        k = int(best[t])
        stop = t + 1
        while stop < n and best[stop] == k:
            stop += 1
        if k != blank:
            out.append(_segment(log_probs, k, np.arange(t, stop), tokens))
        t = stop
    return out


def aligned_segments(log_probs: np.ndarray, labels: Sequence[int], tokens: Sequence[str], *, blank: int = 0) -> list[GlossSegment]:
    """Viterbi forced alignment of the label sequence ``labels`` to ``log_probs (T, V)``.

    Returns one segment per label: the frames the best CTC path through ``labels`` gives it.
    For the greedy transcript this is the greedy path (the best path overall).
    """
    if not labels:
        return []
    lab = np.asarray(labels, dtype=np.int64)
    states = np.full(2 * len(lab) + 1, blank, dtype=np.int64)  # blank, l1, blank, l2, ..., blank
    states[1::2] = lab
    emit = log_probs[:, states]  # (T, S)
    n_frames, n_states = emit.shape
    skip = np.zeros(n_states, dtype=bool)  # a label state may be entered from the previous label
    skip[3::2] = lab[1:] != lab[:-1]
    neg = np.full(2, -np.inf)
    score = np.full(n_states, -np.inf)
    score[:2] = emit[0, :2]
    back = np.zeros((n_frames, n_states), dtype=np.int8)  # 0: stay, 1: from s-1, 2: from s-2
    for t in range(1, n_frames):
        cand = np.stack([score, np.concatenate([neg[:1], score[:-1]]), np.where(skip, np.concatenate([neg, score[:-2]]), -np.inf)])
        back[t] = cand.argmax(0)
        score = cand.max(0) + emit[t]
    end = n_states - 1 if score[-1] >= score[-2] else n_states - 2
    if not np.isfinite(score[end]):  # more labels than frames allow: spread them evenly
        edges = np.linspace(0, n_frames, len(lab) + 1).astype(int)
        return [GlossSegment(tokens[k], int(a), int(max(b, a + 1)), 0.0) for k, a, b in zip(lab, edges[:-1], edges[1:])]
    path = np.empty(n_frames, dtype=np.int64)
    s = end
    for t in range(n_frames - 1, -1, -1):
        path[t] = s
        s -= int(back[t, s])
    return [_segment(log_probs, int(k), np.flatnonzero(path == 2 * i + 1), tokens) for i, k in enumerate(lab)]


def transcribe(
    model: Model,
    inputs: Sequence[InputFile],
    *,
    batch_size: int = 16,
    decoder: Any | None = None,
) -> Iterator[Transcript | Failure]:
    """Transcribe ``inputs`` in order, ``batch_size`` at a time; yields a :class:`Transcript`
    or a :class:`Failure` per input (a bad file does not stop the others).

    Args:
        model: from :func:`load_model`.
        inputs: from :func:`collect_inputs`.
        decoder: a :class:`~signdistill.decoding.beam.DecoderConfig` for beam search
            (with an LM); greedy decoding when None.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    beam = None
    if decoder is not None:
        from signdistill.decoding.beam import BeamSearchDecoder

        beam = BeamSearchDecoder(model.vocab.tokens, decoder)
    tokens = model.vocab.tokens
    for start in range(0, len(inputs), batch_size):
        chunk = inputs[start : start + batch_size]
        loaded: dict[int, np.ndarray] = {}
        errors: dict[int, Failure] = {}
        for i, item in enumerate(chunk):
            try:
                loaded[i] = model.normalizer(_read(item, model.input_dim))
            except DataError as exc:
                errors[i] = Failure(str(item.path), " ".join(str(exc).split()))
        log_probs: dict[int, np.ndarray] = {}
        if loaded:
            lengths = np.array([loaded[i].shape[0] for i in loaded], dtype=np.int64)
            x = np.zeros((len(loaded), int(lengths.max()), model.input_dim), dtype=np.float32)  # (B, T, D), zero-padded
            for b, i in enumerate(loaded):
                x[b, : lengths[b]] = loaded[i]
            out = model.log_probs(x, lengths)  # (B, T, V)
            log_probs = {i: np.asarray(out[b, : lengths[b]], dtype=np.float32) for b, i in enumerate(loaded)}
        for i, item in enumerate(chunk):
            if i in errors:
                yield errors[i]
                continue
            lp = log_probs[i]
            if beam is None:
                segments = greedy_segments(lp, tokens)
            else:
                segments = aligned_segments(lp, model.vocab.encode(beam.decode_one(lp)), tokens)
            yield Transcript(item.id, item.path, segments, lp.shape[0])


# -- output formats ----------------------------------------------------------------------------


def format_transcript(t: Transcript, fmt: str, *, fps: float = 25.0) -> str:
    """The output lines for one transcript (with a final newline; empty for a CTM without glosses).

    * ``text``: ``id<TAB>GLOSS GLOSS ...``
    * ``jsonl``: ``{"id", "glosses": [{"gloss", "start", "end", "confidence"}]}``, frames
    * ``ctm``: ``id 1 start duration GLOSS confidence`` per gloss, seconds at ``fps``
    """
    if fmt == "text":
        return f"{t.id}\t{' '.join(t.glosses)}\n"
    if fmt == "jsonl":
        glosses = [{"gloss": s.gloss, "start": s.start, "end": s.end, "confidence": round(s.confidence, 4)} for s in t.segments]
        return json.dumps({"id": t.id, "glosses": glosses}, ensure_ascii=False) + "\n"
    if fmt == "ctm":
        return "".join(f"{t.id} 1 {s.start / fps:.3f} {(s.end - s.start) / fps:.3f} {s.gloss} {s.confidence:.4f}\n" for s in t.segments)
    raise ValueError(f"format {fmt!r} is not one of {list(FORMATS)}.")


# -- scoring exports with `evaluate` -----------------------------------------------------------


@dataclass
class ExportCheckpoint:
    """What ``evaluate`` reads from a checkpoint, for an export: the model and its vocabulary."""

    model: Model
    vocab: Vocabulary
    normalizer: Normalizer
    path: Path


def scored_as_export(path: str | os.PathLike[str]) -> bool:
    """True for folders ``evaluate`` runs as deployed (ONNX, fp16, int8) rather than as a fp32 checkpoint."""
    try:
        return model_format(path) != "fp32"
    except SignDistillError:
        return False  # load_checkpoint says what is wrong


def export_outputs(
    path: str | os.PathLike[str], manifest: str | os.PathLike[str], *, batch_size: int = 32
) -> tuple[ExportCheckpoint, list[Any], list[list[str]], list[str], list[str | None]]:
    """An export's log-probs over a manifest, in the fields of ``pipelines.ModelOutputs``
    (checkpoint, per-utterance ``(T, V)`` tensors, references, ids, signers).

    The manifest is read and batched exactly as for a checkpoint (the same validation,
    normalizer and length buckets); only the network runs in the export's runtime, on the CPU.
    """
    import torch

    from signdistill.data import BucketBatchSampler, SignDataset, collate, read_manifest

    model = load_model(path)
    data = SignDataset(read_manifest(manifest), model.vocab, model.normalizer, source=str(manifest))
    logits: list[Any] = [None] * len(data)
    for idx in BucketBatchSampler(data.lengths, batch_size, shuffle=False):
        batch = collate([data[i] for i in idx])
        out = model.log_probs(batch.features.numpy(), batch.lengths.numpy())
        for b, k in enumerate(batch.indices):
            logits[k] = torch.from_numpy(np.array(out[b, : int(batch.lengths[b])], dtype=np.float32))
    utts = data.utterances
    ckpt = ExportCheckpoint(model, model.vocab, model.normalizer, model.path)
    return ckpt, logits, [list(u.glosses) for u in utts], [u.id for u in utts], [u.signer for u in utts]


__all__ = [
    "FORMATS",
    "ExportCheckpoint",
    "Failure",
    "GlossSegment",
    "InputFile",
    "Model",
    "Transcript",
    "aligned_segments",
    "collect_inputs",
    "export_outputs",
    "format_transcript",
    "greedy_segments",
    "load_model",
    "model_format",
    "scored_as_export",
    "transcribe",
]
