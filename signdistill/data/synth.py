"""The embedded dataset: synthetic, sign-language-like keypoint sequences.

Each gloss is a motion primitive of the dominant hand (a path between two locations in
signing space: line, arc, circle, tap or wiggle), a handshape (finger extensions that may
change during the sign), a palm orientation, and a non-dominant hand that rests, mirrors
or serves as a static base. Glosses come in families of near-identical primitives that
differ in one attribute only (handshape, direction, orientation or the second hand), so
telling them apart needs capacity and context. Sentences come from a weather-report
grammar (in the spirit of PHOENIX-2014), so an n-gram language model helps decoding.

Each signer has their own body scale and offset, tempo, and idiosyncratic variants of
every sign. Between signs the hands travel (movement epenthesis), neighbouring signs
blend into each other (co-articulation), and the tracker adds jitter and occasionally
loses a hand. Train, dev and test are split by signer (signer-independent).

Frames are 18 2-D keypoints, flattened to ``D = 36``: head, neck, both shoulders, both
elbows, and per hand the wrist and five fingertips.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signdistill.data.manifest import Utterance, write_manifest
from signdistill.data.synth_motion import (  # noqa: F401 - _sign_key, _signer and FEATURE_DIM are part of this module's surface
    FEATURE_DIM,
    _concat_with_epenthesis,
    _lexicon,
    _realize,
    _render,
    _sign_key,
    _Signer,
    _signer,
    _smooth,
)
from signdistill.errors import DataError
from signdistill.io import check_output_path, refuse_unexpected

GRAMMAR_WORDS = {
    "TIME": ["HEUTE", "MORGEN", "ABEND", "NACHT", "WOCHENENDE", "MONTAG", "DIENSTAG"],
    "REGION": ["NORD", "SUED", "OST", "WEST", "KUESTE", "BERG", "REGION", "MITTE"],
    "WEATHER": ["REGEN", "SCHNEE", "SONNE", "WOLKE", "NEBEL", "GEWITTER", "FROST", "SCHAUER"],
    "INTENSITY": ["STARK", "SCHWACH", "VIEL", "WENIG", "MAESSIG"],
    "TEMP": ["WARM", "KALT", "MILD", "KUEHL"],
    "NUMBER": ["ZWEI", "DREI", "FUENF", "ZEHN", "ZWANZIG", "NULL"],
    "VERB": ["KOMMEN", "BLEIBEN", "WECHSELN", "AUFLOESEN", "STEIGEN", "SINKEN"],
    "MISC": ["IX", "AUCH", "DANN", "NICHT", "MOEGLICH", "GRAD", "WIND", "TEMPERATUR"],
}

# Weather words with the intensities and verbs that usually go with them: what an LM learns.
AFFINITY = {
    "REGEN": ["STARK", "SCHWACH", "VIEL"],
    "SCHNEE": ["VIEL", "WENIG"],
    "SONNE": ["VIEL", "MAESSIG"],
    "WOLKE": ["VIEL", "WENIG"],
    "NEBEL": ["MAESSIG", "SCHWACH"],
    "GEWITTER": ["MOEGLICH", "STARK"],
    "FROST": ["MOEGLICH", "MAESSIG"],
    "SCHAUER": ["SCHWACH", "MOEGLICH"],
}
VERB_AFFINITY = {
    "REGEN": "KOMMEN",
    "SCHNEE": "KOMMEN",
    "SONNE": "BLEIBEN",
    "WOLKE": "AUFLOESEN",
    "NEBEL": "AUFLOESEN",
    "GEWITTER": "KOMMEN",
    "FROST": "BLEIBEN",
    "SCHAUER": "WECHSELN",
}


@dataclass(frozen=True)
class SynthSize:
    """Dataset size and difficulty (the knobs; docs/data.md explains each).

    Attributes:
        train_signers, dev_signers, test_signers: signers per split (signer-independent splits).
        per_signer: training utterances per signer.
        eval_per_signer: dev/test utterances per signer (``None``: ``per_signer``). The default
            gives dev and test over 4,000 reference glosses each, so one model's WER has a 95 %
            interval of about +-1 point.
        free_sentences: share of sentences drawn gloss by gloss from a Zipf unigram instead of
            the weather grammar. 0 makes sentences nearly predictable (an LM does the
            recognizing); the default keeps the LM's gain near what real CSLR sees.
        extra_glosses: glosses added to the weather vocabulary (``G001``, ``G002``, ...). They
            occur in the free sentences only, so they widen what a model must tell apart
            without making sentences more predictable.
        family_size: glosses per family of near-identical signs (differing in one attribute).
        distinct_variants: redraw a variant that comes out the same as another member of its
            family. Off, two glosses of a family can be the same sign (manual homonyms that only
            context tells apart); the default data has them (docs/data.md).
        signer_variation: scales how much signers differ (body scale and offset, tempo,
            per-sign idiosyncrasies). Below 1, errors come less from unseen signers and more
            from the model's capacity. At exactly 1 the tempo is drawn as in the weather data
            (uniform 0.8-1.25, so that data stays byte-identical); otherwise log-uniform over
            [0.8**v, 1.25**v].
    """

    train_signers: int = 12
    dev_signers: int = 4
    test_signers: int = 4
    per_signer: int = 60
    eval_per_signer: int | None = 220
    free_sentences: float = 0.75
    extra_glosses: int = 0
    family_size: int = 3
    distinct_variants: bool = False
    signer_variation: float = 1.0

    def __post_init__(self) -> None:
        counts = {"train_signers": self.train_signers, "dev_signers": self.dev_signers, "test_signers": self.test_signers}
        counts |= {"per_signer": self.per_signer, "family_size": self.family_size}
        if self.eval_per_signer is not None:
            counts["eval_per_signer"] = self.eval_per_signer
        for name, value in counts.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"SynthSize.{name} must be an integer >= 1 (got {value!r}).")
        if not isinstance(self.extra_glosses, int) or isinstance(self.extra_glosses, bool) or not 0 <= self.extra_glosses <= 999:
            raise ValueError(f"SynthSize.extra_glosses must be an integer from 0 to 999 (got {self.extra_glosses!r}).")
        if not 0.0 <= self.free_sentences <= 1.0:
            raise ValueError(f"SynthSize.free_sentences must be in [0, 1] (got {self.free_sentences!r}).")
        if not 0.0 <= self.signer_variation <= 3.0:
            raise ValueError(f"SynthSize.signer_variation must be in [0, 3] (got {self.signer_variation!r}); 1 is the weather data's.")
        if self.extra_glosses and self.free_sentences == 0:
            raise ValueError(
                "SynthSize.extra_glosses occur only in free sentences, and free_sentences is 0: "
                "set free_sentences above 0 or extra_glosses to 0."
            )


SIZES = {
    "tiny": SynthSize(train_signers=2, dev_signers=1, test_signers=1, per_signer=12, eval_per_signer=None, free_sentences=0.0),
    "small": SynthSize(train_signers=6, dev_signers=1, test_signers=1, per_signer=40, eval_per_signer=None, free_sentences=0.0),
    "quickstart": SynthSize(dev_signers=1, test_signers=2, eval_per_signer=200),
    # The earlier default: 52 glosses (the data of the tables that docs/distillation.md marks `weather`).
    "weather": SynthSize(),
    # 152 glosses in families of 4, signers half as different: errors come from the model's
    # capacity, so a 2.5x or 15x smaller student is clearly worse than its teacher.
    "default": SynthSize(extra_glosses=100, family_size=4, signer_variation=0.5, free_sentences=0.9),
    # The default data without manual homonyms: a family's signs are drawn distinct, so context is
    # needed less (an LM gains less, as with real gloss LMs).
    "distinct": SynthSize(extra_glosses=100, family_size=4, signer_variation=0.5, free_sentences=0.9, distinct_variants=True),
}


def _vocabulary(extra: int = 0) -> list[str]:
    return [w for words in GRAMMAR_WORDS.values() for w in words] + [f"G{i:03d}" for i in range(1, extra + 1)]


def _free_sentence(rng: np.random.Generator, vocab: list[str]) -> list[str]:
    """3-8 glosses drawn independently from a Zipf-like unigram (what no grammar predicts)."""
    weights = 1.0 / np.arange(1, len(vocab) + 1) ** 0.8
    return [str(g) for g in rng.choice(vocab, size=int(rng.integers(3, 9)), p=weights / weights.sum())]


def _sentence(rng: np.random.Generator, free: float = 0.0, vocab: list[str] | None = None) -> list[str]:
    if free > 0 and rng.random() < free:
        return _free_sentence(rng, vocab or _vocabulary())
    g = GRAMMAR_WORDS

    def pick(cat: str) -> str:
        return str(rng.choice(g[cat]))

    def weather_phrase() -> list[str]:
        w = pick("WEATHER")
        out = [w]
        if rng.random() < 0.7:
            out.append(str(rng.choice(AFFINITY[w])) if rng.random() < 0.8 else pick("INTENSITY"))
        if rng.random() < 0.35:
            out.append(VERB_AFFINITY[w] if rng.random() < 0.8 else pick("VERB"))
        return out

    kind = rng.integers(0, 5)
    if kind == 0:  # HEUTE NORD REGEN STARK
        s = [pick("TIME"), pick("REGION"), *weather_phrase()]
    elif kind == 1:  # TEMPERATUR ZEHN GRAD SUED (MILD)
        s = ["TEMPERATUR", pick("NUMBER"), "GRAD", pick("REGION")]
        if rng.random() < 0.5:
            s.append(pick("TEMP"))
    elif kind == 2:  # MORGEN IX WEST WIND STARK DANN SONNE
        s = [pick("TIME"), "IX", pick("REGION"), "WIND", pick("INTENSITY")]
        if rng.random() < 0.6:
            s += ["DANN", *weather_phrase()[:2]]
    elif kind == 3:  # NACHT KALT FROST MOEGLICH
        s = [pick("TIME"), pick("TEMP"), *weather_phrase()]
        if rng.random() < 0.4:
            s += ["AUCH", pick("REGION")]
    else:  # REGION NICHT REGEN, TEMPERATUR STEIGEN
        s = [pick("REGION"), "NICHT", pick("WEATHER")]
        if rng.random() < 0.5:
            s += ["TEMPERATUR", str(rng.choice(["STEIGEN", "SINKEN"]))]
    return s


def is_synth_dataset(path: str | Path) -> bool:
    """True for a folder written by :func:`generate`: ``features/`` and a train manifest of synthetic ids."""
    import json
    import re

    p = Path(path)
    try:
        with open(p / "train.jsonl", encoding="utf-8") as f:
            first = json.loads(f.readline())
    except (OSError, ValueError):
        return False
    return (p / "features").is_dir() and isinstance(first, dict) and re.fullmatch(r"train-s\d{2}-\d{4}", str(first.get("id"))) is not None


_OWN_FEATURE = r"(train|dev|test|unlabeled|unlabeled_new)-s\d{2}-\d{4,5}\.npy"  # what _write_dataset names
OWN_FILES = ("train.jsonl", "dev.jsonl", "test.jsonl", "unlabeled.jsonl", "unlabeled_new.jsonl", "features")


def _is_own_manifest(path: Path) -> bool:
    """True for a manifest :func:`_write_dataset` wrote: every line a synthetic id of its split, features beside it."""
    import json

    split = path.name.removesuffix(".jsonl")
    pattern = re.compile(rf"{split}-s\d{{2}}-\d{{4,5}}")
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                entry = json.loads(line)
                uid = entry.get("id") if isinstance(entry, dict) else None
                if not (isinstance(uid, str) and pattern.fullmatch(uid) and entry.get("features") == f"features/{uid}.npy"):
                    return False
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return path.is_file()


def foreign_manifests(out: str | Path) -> list[str]:
    """Manifests in ``out`` that carry a name :func:`generate` writes but that it did not write (the user's own)."""
    p = Path(out)
    names = [n for n in OWN_FILES if n.endswith(".jsonl")]
    return [n for n in names if os.path.lexists(p / n) and not _is_own_manifest(p / n)]


def kept_files(out: str | Path) -> list[str]:
    """Entries of a dataset folder that :func:`generate` did not write (an LM built beside it, notes)."""
    p = Path(out)
    return sorted(e.name for e in p.iterdir() if e.name not in OWN_FILES) if p.is_dir() else []


def generate(
    out: str | Path, *, seed: int = 0, size: str | SynthSize = "default", overwrite: bool = False, unlabeled: int = 0
) -> dict[str, Path]:
    """Write the synthetic dataset to ``out``: ``{train,dev,test}.jsonl`` plus ``features/``.

    Returns the manifest path of each split. The same ``seed`` gives the same data.
    ``unlabeled`` > 0 also writes two manifests of that many utterances for ``data.unlabeled``
    (docs/distillation.md): ``unlabeled.jsonl``, new sentences by the training signers, and
    ``unlabeled_new.jsonl``, sentences by as many new signers (absent from every split). They
    keep their glosses so that pseudo-labels can be scored; distillation ignores them. The
    labelled splits are the same with or without them.
    ``out`` must be new, an empty folder, or (with ``overwrite``) a dataset written here
    before: anything else is refused before a file is written (:class:`ConfigError`). The
    dataset is built in a temporary folder beside ``out`` and moved in when complete, so
    an interrupted run leaves nothing half-written; files in ``out`` that are not the
    dataset's own (``kept_files``) stay.
    """
    if isinstance(size, str) and size not in SIZES:
        raise DataError(f"size {size!r} is not one of {sorted(SIZES)}.")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise DataError(f"seed must be an integer >= 0 (got {seed!r}).")
    if not isinstance(unlabeled, int) or isinstance(unlabeled, bool) or not 0 <= unlabeled <= 1_000_000:
        raise DataError(f"unlabeled must be an integer from 0 to 1000000 (got {unlabeled!r}).")
    spec = SIZES[size] if isinstance(size, str) else size
    out = Path(out)
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise DataError(f"{parent} is a file, so {out} cannot be a folder; nothing was written. Pick another output folder.")
    check_output_path(out, kind="synthetic dataset", overwrite=overwrite, is_ours=is_synth_dataset)
    foreign = foreign_manifests(out) if out.is_dir() else []
    if foreign:
        raise DataError(
            f"{out} holds {', '.join(foreign)}, which signdistill data synth did not write; --overwrite would replace "
            f"{'them' if len(foreign) > 1 else 'it'}, so nothing was changed. Move {'them' if len(foreign) > 1 else 'it'} "
            "away, or pick another output folder."
        )
    if (out / "features").is_dir():  # replaced whole: anything a user added inside it would go with it
        refuse_unexpected(out / "features", lambda rel: re.fullmatch(_OWN_FEATURE, rel) is not None, "synthetic dataset's features/")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".synth-tmp", dir=out.parent))
    try:
        written = _write_dataset(tmp, seed, spec, unlabeled)
        out.mkdir(exist_ok=True)
        if (out / "features").exists():
            os.replace(out / "features", tmp / "features.old")
        os.replace(tmp / "features", out / "features")
        for split in written:
            os.replace(written[split], out / f"{split}.jsonl")
        for name in ("unlabeled.jsonl", "unlabeled_new.jsonl"):  # an earlier dataset's, now without features
            if name.removesuffix(".jsonl") not in written:
                (out / name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {split: out / f"{split}.jsonl" for split in written}


def _record(out: Path, uid: str, sentence: list[str], sig: _Signer, signer: str, lexicon: dict, rng: np.random.Generator) -> Utterance:
    """Render one sentence by one signer, save its features and return its manifest entry."""
    parts = [_realize(lexicon[g], sig, g, rng) for g in sentence]
    track = _concat_with_epenthesis(parts, sig, rng)
    track = {k: _smooth(v, sigma=1.0) for k, v in track.items()}
    path = out / "features" / f"{uid}.npy"
    np.save(path, _render(track, sig, rng))
    return Utterance(id=uid, features=path, glosses=tuple(sentence), signer=signer)


def _write_dataset(out: Path, seed: int, spec: SynthSize, unlabeled: int = 0) -> dict[str, Path]:
    (out / "features").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    glosses = _vocabulary(spec.extra_glosses)
    lexicon = _lexicon(glosses, np.random.default_rng(seed + 7919), spec.family_size, spec.distinct_variants)
    zipf_order = list(np.random.default_rng(seed + 104729).permutation(glosses))
    n_signers = spec.train_signers + spec.dev_signers + spec.test_signers
    signers = [_signer(rng, glosses, spec.signer_variation) for _ in range(n_signers)]
    splits = {
        "train": range(0, spec.train_signers),
        "dev": range(spec.train_signers, spec.train_signers + spec.dev_signers),
        "test": range(spec.train_signers + spec.dev_signers, n_signers),
    }
    manifests = {}
    for split, signer_ids in splits.items():
        count = spec.per_signer if split == "train" or spec.eval_per_signer is None else spec.eval_per_signer
        utts = [
            _record(
                out,
                f"{split}-s{s + 1:02d}-{k:04d}",
                _sentence(rng, spec.free_sentences, zipf_order),
                signers[s],
                f"signer{s + 1:02d}",
                lexicon,
                rng,
            )
            for s in signer_ids
            for k in range(count)
        ]
        manifests[split] = out / f"{split}.jsonl"
        write_manifest(manifests[split], utts)
    if unlabeled:
        # Their own random streams: the labelled splits stay byte-identical with or without them.
        new_rng = np.random.default_rng(seed + 32452843)
        new_signers = [_signer(new_rng, glosses, spec.signer_variation) for _ in range(spec.train_signers)]
        pools = {
            "unlabeled": [(s + 1, signers[s]) for s in splits["train"]],
            "unlabeled_new": [(n_signers + j + 1, sig) for j, sig in enumerate(new_signers)],
        }
        for split, pool in pools.items():
            u_rng = np.random.default_rng(seed + (15485863 if split == "unlabeled" else 49979687))
            utts = []
            for k in range(unlabeled):
                number, sig = pool[k % len(pool)]
                sentence = _sentence(u_rng, spec.free_sentences, zipf_order)
                utts.append(_record(out, f"{split}-s{number:02d}-{k:05d}", sentence, sig, f"signer{number:02d}", lexicon, u_rng))
            manifests[split] = out / f"{split}.jsonl"
            write_manifest(manifests[split], utts)
    return manifests
