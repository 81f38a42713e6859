"""What ``compare`` and ``quickstart`` return: typed values whose ``to_dict()`` is the JSON they write.

:class:`CompareResults` is ``OUT/results.json`` (:func:`~signdistill.pipelines.compare_report.summarize`
builds its content), :class:`CompareSubmitted` what ``compare(detach=True)`` returns while runs are
still on a cluster, and :class:`QuickstartReport` quickstart's ``report.json``. The per-recipe and
teacher entries stay the JSON objects ``docs/compare.md`` documents (``test_wer_mean``,
``paired_test``, ...): their keys depend on the decoders scored.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


def _to_dict(obj: Any, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """The fields in declaration order; those named in ``optional`` only when not None."""
    return {f.name: getattr(obj, f.name) for f in fields(obj) if not (f.name in optional and getattr(obj, f.name) is None)}


@dataclass
class CompareResults:
    """``results.json``: per recipe WER over seeds, paired differences to ``ctc``, verdicts; the teacher's WER.

    Attributes:
        schema: version of this layout.
        warnings: what makes the comparison unreliable (models that did not learn).
        method, confidence, bootstrap: how the intervals were computed.
        seeds, epochs, tune: the training settings compared.
        test_utterances, test_reference_glosses, dev_reference_glosses: the size of the test and dev sets.
        teacher: ``checkpoint``, ``parameters``, ``dev_wer``, ``test_wer`` (and ``*_beam``, ``decoder``); a teacher
            cache (an imported teacher) is ``{"cache": DIR}``, not scored (it holds the training split only).
        recipes: per recipe: ``test_wer`` per seed, ``test_wer_mean``/``_std``, ``paired_test``, ``verdict``, ...
        contrasts: with ``contrasts`` in the config, one entry per pair: ``recipe``, ``reference``,
            ``paired_test``/``paired_dev`` (recipe - reference), ``verdict``, ``consistent`` (and ``*_beam``); else None.
        seconds: wall time of the comparison.
        figures: the figure files written beside ``results.md``.
        figures_skipped: why no figure was written, else None.

    Example:
        >>> res = compare(load_config("compare.yaml", [], CompareConfig))  # doctest: +SKIP
        >>> row = res.recipes["default"]  # doctest: +SKIP
        >>> row.get("verdict")  # doctest: +SKIP
        'helps'
    """

    schema: int
    warnings: list[str]
    method: str
    confidence: float
    bootstrap: int
    seeds: list[int]
    epochs: int
    tune: dict[str, list[Any]]
    test_utterances: int
    test_reference_glosses: int
    dev_reference_glosses: int
    teacher: dict[str, Any]
    recipes: dict[str, dict[str, Any]]
    seconds: float
    contrasts: list[dict[str, Any]] | None = None
    figures: list[str] = field(default_factory=list)
    figures_skipped: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CompareResults:
        """From ``results.json``'s content (every key is a field: an unknown key raises TypeError)."""
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        """``results.json``: every field in order, ``contrasts`` and ``figures_skipped`` only when set."""
        return _to_dict(self, ("contrasts", "figures_skipped"))


@dataclass
class CompareSubmitted:
    """``compare(detach=True)``: the runs are submitted and not all finished; the same call without
    ``detach`` later waits for them and collects the results.

    Attributes:
        out: the comparison's folder.
        submitted: the job ids submitted by this call.
        waiting: the runs not finished yet.
    """

    out: str
    submitted: list[str]
    waiting: list[str]

    def to_dict(self) -> dict[str, Any]:
        """``{"detached": True, "out", "submitted", "waiting"}``."""
        return {"detached": True, **_to_dict(self)}


@dataclass
class QuickstartReport:
    """quickstart's ``report.json``: the three models, the distilled-vs-student intervals and the plan's criteria.

    Attributes:
        size, seeds: what ran.
        interval: how the intervals were computed, in words.
        models: per model (``teacher``, ``student``, ``distilled``): parameters, size, WERs, speed.
        distilled_vs_student: paired differences (``greedy``, ``greedy_dev`` and, with an LM, ``beam``).
        compare: the comparison's ``results.json``.
        figures: the comparison's figure files.
        figures_skipped: why there are no figures, else None.
        warning: set when a model did not learn (the WER criteria then read "not meaningful").
        criteria: the plan's success criteria, each with its ``result``.
    """

    size: str
    seeds: list[int]
    interval: str
    models: dict[str, dict[str, Any]]
    distilled_vs_student: dict[str, dict[str, Any]]
    compare: str
    figures: list[str]
    figures_skipped: str | None = None
    warning: str | None = None
    criteria: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QuickstartReport:
        """From ``report.json``'s content (every key is a field: an unknown key raises TypeError)."""
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        """``report.json``: every field in order; ``figures_skipped`` and ``warning`` only when set."""
        return _to_dict(self, ("figures_skipped", "warning"))


__all__ = ["CompareResults", "CompareSubmitted", "QuickstartReport"]
