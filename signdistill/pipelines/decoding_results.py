"""What the decoding workflows return: typed values whose ``to_dict()`` is the JSON each command writes.

:class:`EvalResult` is ``evaluate --json``, :class:`TuningResult` ``tune-decoder --json``,
:class:`ReportResult` ``report.json`` and :class:`LmBuildResult` what ``lm build`` reports.
Every ``to_dict()`` keeps the keys (and their order) the commands have always written.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from signdistill.decoding.beam import DecoderConfig
from signdistill.evaluation.report import ReportRow
from signdistill.evaluation.scoring import DecodingScore

DECODERS = ("greedy", "beam")


@dataclass
class EvalResult:
    """A model scored on a manifest, by greedy decoding and/or beam search.

    Attributes:
        format: what ran, as deployed: ``fp32``, ``fp16``, ``int8``, ``onnx``, ``onnx-int8-dynamic``, ...
        parameters: parameters of the network.
        cleanup: ``"phoenix"`` when the PHOENIX-2014 rewrites were applied, else None.
        scores: per decoder (``greedy``, ``beam``) its :class:`DecodingScore`.
        decoding: the main decoder (``beam`` when a decoder config was given); the top-level
            keys of :meth:`to_dict` (``wer``, ...) are its figures.
        decoder: the beam search settings, when beam search ran.
        checkpoint, manifest: what was scored (None from :func:`score_outputs`, which has no paths).
        teacher: another model scored on the same manifest (``evaluate --teacher``).

    Example:
        >>> res = evaluate("runs/x/best", "data/test.jsonl")  # doctest: +SKIP
        >>> res.wer, res.main.hypotheses["u1"]  # doctest: +SKIP
    """

    format: str
    parameters: int
    cleanup: str | None
    scores: dict[str, DecodingScore]
    decoding: str
    decoder: DecoderConfig | None = None
    checkpoint: str | None = None
    manifest: str | None = None
    teacher: EvalResult | None = None

    @property
    def main(self) -> DecodingScore:
        """The main decoder's score."""
        return self.scores[self.decoding]

    @property
    def wer(self) -> float:
        return self.main.wer

    @property
    def hypotheses(self) -> dict[str, str]:
        return self.main.hypotheses

    @property
    def per_signer(self) -> dict[str, float]:
        return self.main.per_signer

    def to_dict(self) -> dict[str, Any]:
        """``checkpoint``, ``manifest``, ``format``, ``parameters``, ``cleanup``, ``decoder`` (beam search),
        ``greedy`` / ``beam`` (each a :meth:`DecodingScore.to_dict`), the main decoder's figures again at
        the top level, ``decoding``, and ``teacher`` (the same for the teacher) with ``--teacher``."""
        out: dict[str, Any] = {} if self.checkpoint is None else {"checkpoint": self.checkpoint, "manifest": self.manifest}
        out.update({"format": self.format, "parameters": self.parameters, "cleanup": self.cleanup})
        if self.decoder is not None:
            out["decoder"] = self.decoder.to_dict()
        out.update({name: self.scores[name].to_dict() for name in DECODERS if name in self.scores})
        out.update(self.main.to_dict())
        out["decoding"] = self.decoding
        if self.teacher is not None:
            out["teacher"] = self.teacher.to_dict()
        return out


@dataclass
class TuningRow:
    """One decoder setting tried by ``tune-decoder`` and its WER."""

    alpha: float
    beta: float
    wer: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass
class TuningResult:
    """What ``tune-decoder`` found: every setting tried, the best one, greedy WER for reference.

    Attributes:
        greedy_wer: WER of greedy decoding on the same manifest.
        table: every setting tried, in the order tried.
        best: the setting with the lowest WER (ties: lower alpha, then smaller ``|beta|``).
        decoder_config: the JSON file the best settings were written to.
    """

    greedy_wer: float
    table: list[TuningRow]
    best: TuningRow
    decoder_config: str

    def to_dict(self) -> dict[str, Any]:
        """``greedy_wer``, ``table`` (``alpha``, ``beta``, ``wer`` per setting), ``best``, ``decoder_config``."""
        return {
            "greedy_wer": self.greedy_wer,
            "table": [r.to_dict() for r in self.table],
            "best": self.best.to_dict(),
            "decoder_config": self.decoder_config,
        }


@dataclass
class ReportResult:
    """``report.json``: the WER table of every model and decoder, the plots written, the utterance drawn.

    Attributes:
        manifest: the manifest every model was scored on.
        rows: one :class:`~signdistill.evaluation.report.ReportRow` per model and decoder.
        plots: the PNG files written.
        utterance: id of the utterance whose posteriors were drawn.
        plots_skipped: why no plots were written (matplotlib missing), else None.
    """

    manifest: str
    rows: list[ReportRow]
    plots: list[str]
    utterance: str | None
    plots_skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """``manifest``, ``rows``, ``plots``, ``utterance`` and, when plots were skipped, ``plots_skipped``."""
        out: dict[str, Any] = {"manifest": self.manifest, "rows": [r.to_dict() for r in self.rows], "plots": list(self.plots)}
        out["utterance"] = self.utterance
        if self.plots_skipped is not None:
            out["plots_skipped"] = self.plots_skipped
        return out


@dataclass
class LmBuildResult:
    """What ``lm build`` wrote: the ARPA file, its order, and the transcripts and glosses it was estimated from."""

    manifest: str
    out: str
    order: int
    sentences: int
    vocabulary: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


__all__ = ["DECODERS", "EvalResult", "LmBuildResult", "ReportResult", "TuningResult", "TuningRow"]
