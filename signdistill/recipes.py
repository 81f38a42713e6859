"""Named distillation recipes: what `compare` and `quickstart` train, as plain config data.

A recipe is the ``distill:`` section of a distillation config without its ``teachers``
(``None`` for ``ctc``, the baseline that sees no teacher). Some recipes depend on the run:
the plan's temperature boundaries scale with the epoch budget and its feature-layer pairs
with the depths of the two models, so each recipe is built by :func:`resolve_recipe`.

``signdistill compare --list-recipes`` prints this table.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from signdistill.errors import ConfigError

BASELINE = "ctc"

# FitNets from the teacher's first layer onto the student's first layer, plus factorized KD (the
# blank/not-blank decision and the gloss distribution taught separately, at T = 1), plus CTC.
# On the default embedded data its 95 % interval lies below the CTC-only baseline under greedy and
# tuned LM beam decoding, dev agreeing, at 2.47x and 14.7x (5 seeds each; docs/benchmarks.md, "On
# the default data"), the only recipe measured that helps at both. On the earlier `weather` data it
# helped at 15x and 2.4x and was within noise at 3.6x, where `frame-kl-keep` helped instead.
FITNETS: dict[str, Any] = {"loss": {"kl": 0.0, "ctc": 0.5, "feature": 1.0}, "feature_layers": [[1, 1]]}
RECOMMENDED_DISTILL: dict[str, Any] = {
    "loss": {"kl": 0.0, "ctc": 0.5, "feature": 1.0, "factorized": 0.5},
    "temperature": 1.0,
    "feature_layers": [[1, 1]],
}


@dataclass(frozen=True)
class Recipe:
    """A named recipe: a one-line summary and a builder ``(epochs, teacher_layers, student_layers) -> distill dict``."""

    name: str
    summary: str
    build: Callable[[int, int, int], dict[str, Any] | None]


def _plan_layers(teacher_layers: int, student_layers: int) -> list[list[int]]:
    """The plan's pairs (teacher 2,4 -> student 2,3 of 5 and 4 layers), scaled to other depths."""
    pairs: list[list[int]] = []
    for t, s in ((2, 2), (4, 3)):
        tt = min(teacher_layers, max(1, round(t * teacher_layers / 5)))
        ss = min(student_layers, max(1, round(s * student_layers / 4)))
        if [tt, ss] not in pairs:
            pairs.append([tt, ss])
    return pairs


def _plan(epochs: int, teacher_layers: int, student_layers: int) -> dict[str, Any]:
    b1, b2 = max(1, round(0.3 * epochs)), max(2, round(0.7 * epochs))
    temperature: Any = {"kind": "piecewise", "values": [4.0, 3.5, 3.0], "boundaries": [b1, b2]} if b2 > b1 else 4.0
    return {
        "loss": {"kl": 0.7, "ctc": 0.2, "feature": 0.1},
        "temperature": temperature,
        "blank_mode": "keep",
        "feature_layers": _plan_layers(teacher_layers, student_layers),
    }


def _const(d: dict[str, Any] | None) -> Callable[[int, int, int], dict[str, Any] | None]:
    return lambda epochs, tl, sl: None if d is None else {"feature_layers": [], **d}


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        Recipe(BASELINE, "CTC on the ground truth only: the baseline every recipe is compared with (no teacher).", _const(None)),
        Recipe(
            "default",
            "The package default: CTC .5 + FitNets feature MSE 1.0 (teacher layer 1 -> student layer 1) + factorized KD .5 at T=1.",
            _const(RECOMMENDED_DISTILL),
        ),
        Recipe(
            "fitnets",
            "The default until 0.2: CTC .5 + FitNets feature MSE 1.0, teacher layer 1 -> student layer 1 (no KD on the outputs).",
            _const(FITNETS),
        ),
        Recipe(
            "plan",
            "The research plan: .7 KL (T 4 -> 3.5 -> 3, blank kept) + .2 CTC + .1 FitNets "
            "(teacher layers 2,4 -> student 2,3 for 5/4 layers; other depths mapped proportionally).",
            _plan,
        ),
        Recipe(
            "frame-kl",
            "Frame-level KL .5 at T=2 with the blank column dropped + CTC .5.",
            _const({"loss": {"kl": 0.5, "ctc": 0.5}, "temperature": 2.0}),
        ),
        Recipe(
            "frame-kl-keep",
            "Pure function matching: frame KL .5 at T=1 with the blank kept + CTC .5.",
            _const({"loss": {"kl": 0.5, "ctc": 0.5}, "temperature": 1.0, "blank_mode": "keep"}),
        ),
        Recipe(
            "sequence",
            "Sequence-level KD: CTC .5 on the ground truth + CTC .5 on the teacher's greedy transcript.",
            _const({"loss": {"kl": 0.0, "ctc": 0.5, "sequence": 0.5}}),
        ),
        Recipe(
            "factorized",
            "Factorized KD .5 at T=1 (blank/not-blank KL + gloss KL on every frame, Tian et al. 2024) + CTC .5.",
            _const({"loss": {"kl": 0.0, "ctc": 0.5, "factorized": 0.5}, "temperature": 1.0}),
        ),
        Recipe(
            "shift-kl",
            "Shift-tolerant frame KL .5 at T=1 (best teacher frame within +-2) + CTC .5: the student keeps its own timing.",
            _const({"loss": {"kl": 0.0, "ctc": 0.5, "shift": 0.5}, "temperature": 1.0, "shift_frames": 2}),
        ),
        Recipe(
            "sequence-sampled",
            "Sequence KD .5: CTC on 4 transcripts sampled from the teacher's sequence posterior (T=1) per step + CTC .5.",
            _const({"loss": {"kl": 0.0, "ctc": 0.5, "sampled": 0.5}, "temperature": 1.0, "num_samples": 4}),
        ),
        Recipe(
            "factorized-fitnets",
            "FitNets (layer 1 -> 1, 1.0) + factorized KD .5 at T=1 + CTC .5: the same as `default` (its name in the measurements).",
            _const({"loss": {"kl": 0.0, "ctc": 0.5, "feature": 1.0, "factorized": 0.5}, "temperature": 1.0, "feature_layers": [[1, 1]]}),
        ),
        Recipe(
            "shift-fitnets",
            "FitNets (layer 1 -> 1, 1.0) + shift-tolerant KL .5 at T=1 (+-2 frames) + CTC .5.",
            _const(
                {
                    "loss": {"kl": 0.0, "ctc": 0.5, "feature": 1.0, "shift": 0.5},
                    "temperature": 1.0,
                    "shift_frames": 2,
                    "feature_layers": [[1, 1]],
                }
            ),
        ),
        Recipe(
            "aligned",
            "Token-aligned KL .5 (teacher at its spike, student at its own, per gloss) at T=2 + CTC .5.",
            _const({"loss": {"kl": 0.0, "ctc": 0.5, "aligned": 0.5}, "temperature": 2.0, "blank_mode": "keep"}),
        ),
    ]
}


def recipe_names() -> list[str]:
    return list(RECIPES)


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; a ConfigError suggesting the closest name otherwise."""
    if name not in RECIPES:
        close = difflib.get_close_matches(name, list(RECIPES), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown recipe {name!r}.{hint} Known recipes: {', '.join(RECIPES)} (signdistill compare --list-recipes).")
    return RECIPES[name]


def resolve_recipe(name: str, *, epochs: int, teacher_layers: int, student_layers: int) -> dict[str, Any] | None:
    """The ``distill`` section (without teachers) of a named recipe for this run; ``None`` for ``ctc``."""
    return get_recipe(name).build(epochs, teacher_layers, student_layers)
