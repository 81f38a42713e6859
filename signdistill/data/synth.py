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

import copy
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signdistill.data.manifest import Utterance, write_manifest
from signdistill.errors import DataError
from signdistill.io import check_output_path

FEATURE_DIM = 36
REST_LEFT = np.array([-0.22, -0.35])
REST_RIGHT = np.array([0.22, -0.35])

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


@dataclass
class _Primitive:
    start: np.ndarray  # (2,) dominant wrist start
    end: np.ndarray  # (2,) dominant wrist end
    path: str
    path_param: float  # radius / amplitude / curvature
    cycles: float
    shape_start: np.ndarray  # (5,) finger extensions in [0, 1]
    shape_end: np.ndarray
    orient_start: float  # palm angle (radians)
    orient_end: float
    second: str  # "rest" | "mirror" | "base"
    base_loc: np.ndarray
    duration: float  # frames at tempo 1


PATHS = ("line", "arc", "circle", "tap", "wiggle")


def _random_primitive(rng: np.random.Generator) -> _Primitive:
    start = np.array([rng.uniform(-0.05, 0.4), rng.uniform(-0.15, 0.55)])
    disp = rng.normal(0, 0.12, size=2)
    shape = rng.uniform(0, 1, size=5)
    return _Primitive(
        start=start,
        end=start + disp,
        path=str(rng.choice(PATHS)),
        path_param=float(rng.uniform(0.03, 0.09)),
        cycles=float(rng.choice([1.0, 1.5, 2.0])),
        shape_start=shape,
        shape_end=np.clip(shape + rng.normal(0, 0.4, size=5) * (rng.random() < 0.5), 0, 1),
        orient_start=float(rng.uniform(-1.2, 1.2)),
        orient_end=float(rng.uniform(-1.2, 1.2)),
        second=str(rng.choice(["rest", "rest", "mirror", "base"])),
        base_loc=np.array([rng.uniform(-0.25, 0.05), rng.uniform(-0.1, 0.3)]),
        duration=float(rng.uniform(7, 12)),
    )


def _variant(p: _Primitive, rng: np.random.Generator) -> _Primitive:
    """A near-identical sign that differs from ``p`` in one attribute."""
    q = copy.deepcopy(p)
    what = rng.integers(0, 4)
    if what == 0:  # handshape
        q.shape_start = np.clip(p.shape_start + rng.choice([-1, 1], 5) * rng.uniform(0.25, 0.45, 5), 0, 1)
        q.shape_end = np.clip(p.shape_end + (q.shape_start - p.shape_start), 0, 1)
    elif what == 1:  # direction of movement
        q.start, q.end = p.end.copy(), p.start.copy()
    elif what == 2:  # palm orientation
        q.orient_start = p.orient_start + rng.choice([-1, 1]) * rng.uniform(0.5, 0.9)
        q.orient_end = p.orient_end + rng.choice([-1, 1]) * rng.uniform(0.5, 0.9)
    else:  # second hand
        q.second = str(rng.choice([s for s in ("rest", "mirror", "base") if s != p.second]))
    return q


def _sign_key(p: _Primitive) -> tuple[object, ...]:
    """What makes two signs look the same (every attribute a realization uses)."""
    return tuple(np.round(np.asarray(v, dtype=float), 9).tobytes() if not isinstance(v, str) else v for v in vars(p).values())


def _lexicon(glosses: list[str], rng: np.random.Generator, family_size: int = 3, distinct: bool = False) -> dict[str, _Primitive]:
    """Families of near-identical signs. ``distinct``: redraw a variant that repeats another
    member of its family (else two glosses can be the same sign: manual homonyms)."""
    order = list(glosses)
    rng.shuffle(order)
    lex: dict[str, _Primitive] = {}
    for i in range(0, len(order), family_size):
        base = _random_primitive(rng)
        seen: set[tuple[object, ...]] = set()
        for j, g in enumerate(order[i : i + family_size]):
            sign = base if j == 0 else _variant(base, rng)
            if distinct:
                for _ in range(50):
                    if _sign_key(sign) not in seen:
                        break
                    sign = _variant(base, rng)
                seen.add(_sign_key(sign))
            lex[g] = sign
    return lex


@dataclass
class _Signer:
    scale: float
    offset: np.ndarray
    tempo: float
    jitter: dict[str, np.ndarray]  # per-gloss idiosyncrasy: location (2) + shape (5)


def _signer(rng: np.random.Generator, glosses: list[str], variation: float = 1.0) -> _Signer:
    v = variation
    return _Signer(
        scale=float(rng.uniform(1 - 0.1 * v, 1 + 0.1 * v)),
        offset=rng.normal(0, 0.03 * v, size=2),
        tempo=float(np.exp(rng.uniform(math.log(0.8) * v, math.log(1.25) * v))) if v != 1.0 else float(rng.uniform(0.8, 1.25)),
        jitter={g: np.concatenate([rng.normal(0, 0.015 * v, 2), rng.normal(0, 0.05 * v, 5)]) for g in glosses},
    )


FINGER_ANGLES = np.array([-0.9, -0.35, 0.0, 0.35, 0.7])  # thumb .. little finger


def _hand(wrist: np.ndarray, shape: np.ndarray, orient: np.ndarray, mirror: bool) -> np.ndarray:
    """Wrist + 5 fingertips for T frames: (T, 6, 2)."""
    t = wrist.shape[0]
    ang = orient[:, None] + (FINGER_ANGLES[None, :] * (-1 if mirror else 1)) + math.pi / 2
    length = 0.04 + 0.07 * shape  # (T, 5)
    tips = wrist[:, None, :] + np.stack([np.cos(ang), np.sin(ang)], -1) * length[..., None]
    return np.concatenate([wrist.reshape(t, 1, 2), tips], axis=1)


def _ease(u: np.ndarray) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(np.pi * u)


def _realize(p: _Primitive, sig: _Signer, gloss: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = max(4, int(round(p.duration * sig.tempo * rng.uniform(0.8, 1.25))))
    u = np.linspace(0, 1, n)
    e = _ease(u)[:, None]
    jit = sig.jitter[gloss]
    start, end = p.start + jit[:2], p.end + jit[:2]
    pos = start + (end - start) * e
    perp = np.array([-(end - start)[1], (end - start)[0]])
    perp = perp / (np.linalg.norm(perp) + 1e-6)
    shape_w = np.zeros(n)
    if p.path == "arc":
        pos = pos + perp * (p.path_param * 1.5 * np.sin(np.pi * u))[:, None]
    elif p.path == "circle":
        a = 2 * np.pi * p.cycles * u
        pos = pos + p.path_param * np.stack([np.cos(a) - 1, np.sin(a)], -1)
    elif p.path == "tap":
        pos = pos + np.array([0.0, 1.0]) * (p.path_param * np.abs(np.sin(np.pi * 2 * p.cycles * u)))[:, None]
    elif p.path == "wiggle":
        shape_w = 0.3 * np.sin(2 * np.pi * 2 * p.cycles * u)
    shape = p.shape_start + (p.shape_end - p.shape_start) * e + jit[2:]
    shape = np.clip(shape + shape_w[:, None], 0, 1)
    orient = p.orient_start + (p.orient_end - p.orient_start) * e[:, 0]
    if p.second == "mirror":
        left = pos * np.array([-1.0, 1.0])
    elif p.second == "base":
        left = np.repeat(p.base_loc[None] + jit[None, :2], n, 0)
    else:
        left = np.repeat(REST_LEFT[None], n, 0)
    return {"right": pos, "left": left, "shape": shape, "orient": orient}


def _concat_with_epenthesis(parts: list[dict[str, np.ndarray]], sig: _Signer, rng: np.random.Generator) -> dict[str, np.ndarray]:
    rest = {"right": REST_RIGHT[None], "left": REST_LEFT[None], "shape": np.full((1, 5), 0.3), "orient": np.zeros(1)}

    def hold() -> dict[str, np.ndarray]:
        n_rest = int(rng.integers(3, 8))
        return {k: np.repeat(v, n_rest, 0) for k, v in rest.items()}

    seq = [hold()]
    for part in [*parts, None]:
        prev = seq[-1]
        nxt = part if part is not None else {k: np.repeat(v, 1, 0) for k, v in rest.items()}
        n = max(2, int(round(rng.uniform(2, 5) * sig.tempo)))
        w = _ease(np.linspace(0, 1, n + 2)[1:-1])
        trans = {}
        for k in prev:
            a, b = prev[k][-1], nxt[k][0]
            trans[k] = a + (b - a) * (w[:, None] if np.ndim(a) else w)
        seq.append(trans)
        if part is not None:
            seq.append(part)
    seq.append(hold())
    return {k: np.concatenate([s[k] for s in seq], 0) for k in seq[0]}


def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along time: neighbouring signs blend (co-articulation)."""
    r = int(math.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    pad = np.concatenate([np.repeat(x[:1], r, 0), x, np.repeat(x[-1:], r, 0)], 0)
    flat = pad.reshape(pad.shape[0], -1)
    out = np.stack([np.convolve(flat[:, j], k, mode="valid") for j in range(flat.shape[1])], 1)
    return out.reshape(x.shape)


def _render(track: dict[str, np.ndarray], sig: _Signer, rng: np.random.Generator) -> np.ndarray:
    t = track["right"].shape[0]
    right = _hand(track["right"], track["shape"], track["orient"], mirror=False)
    left_shape = np.where(np.linalg.norm(track["left"] - REST_LEFT, axis=1, keepdims=True) < 1e-3, 0.3, track["shape"])
    left = _hand(track["left"], left_shape, -track["orient"], mirror=True)
    sway = rng.normal(0, 0.01, size=2) + 0.01 * np.sin(np.linspace(0, rng.uniform(1, 4), t))[:, None]
    body = np.array([[0, 0.55], [0, 0.3], [-0.22, 0.28], [0.22, 0.28]])[None] + sway[:, None, :]
    l_elbow = (body[:, 2] + left[:, 0]) / 2 + np.array([-0.08, -0.12])
    r_elbow = (body[:, 3] + right[:, 0]) / 2 + np.array([0.08, -0.12])
    pts = np.concatenate([body, l_elbow[:, None], r_elbow[:, None], left, right], axis=1)  # (T, 18, 2)
    pts = pts * sig.scale + sig.offset
    pts = pts + rng.normal(0, 0.008, size=pts.shape)
    # The tracker loses a hand now and then: its points read as zeros, as many pose estimators write.
    for hand_slice in (slice(6, 12), slice(12, 18)):
        if rng.random() < 0.15:
            s = int(rng.integers(0, t))
            pts[s : s + int(rng.integers(1, 4)), hand_slice] = 0.0
    return pts.reshape(t, FEATURE_DIM).astype(np.float32)


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


OWN_FILES = ("train.jsonl", "dev.jsonl", "test.jsonl", "features")


def kept_files(out: str | Path) -> list[str]:
    """Entries of a dataset folder that :func:`generate` did not write (an LM built beside it, notes)."""
    p = Path(out)
    return sorted(e.name for e in p.iterdir() if e.name not in OWN_FILES) if p.is_dir() else []


def generate(out: str | Path, *, seed: int = 0, size: str | SynthSize = "default", overwrite: bool = False) -> dict[str, Path]:
    """Write the synthetic dataset to ``out``: ``{train,dev,test}.jsonl`` plus ``features/``.

    Returns the manifest path of each split. The same ``seed`` gives the same data.
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
    spec = SIZES[size] if isinstance(size, str) else size
    out = Path(out)
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise DataError(f"{parent} is a file, so {out} cannot be a folder; nothing was written. Pick another output folder.")
    check_output_path(out, kind="synthetic dataset", overwrite=overwrite, is_ours=is_synth_dataset)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".synth-tmp", dir=out.parent))
    try:
        written = _write_dataset(tmp, seed, spec)
        out.mkdir(exist_ok=True)
        if (out / "features").exists():
            os.replace(out / "features", tmp / "features.old")
        os.replace(tmp / "features", out / "features")
        for split in written:
            os.replace(written[split], out / f"{split}.jsonl")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {split: out / f"{split}.jsonl" for split in written}


def _write_dataset(out: Path, seed: int, spec: SynthSize) -> dict[str, Path]:
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
        utts: list[Utterance] = []
        count = spec.per_signer if split == "train" or spec.eval_per_signer is None else spec.eval_per_signer
        for s in signer_ids:
            for k in range(count):
                uid = f"{split}-s{s + 1:02d}-{k:04d}"
                sentence = _sentence(rng, spec.free_sentences, zipf_order)
                parts = [_realize(lexicon[g], signers[s], g, rng) for g in sentence]
                track = _concat_with_epenthesis(parts, signers[s], rng)
                track = {k2: _smooth(v, sigma=1.0) for k2, v in track.items()}
                feats = _render(track, signers[s], rng)
                path = out / "features" / f"{uid}.npy"
                np.save(path, feats)
                utts.append(Utterance(id=uid, features=path, glosses=tuple(sentence), signer=f"signer{s + 1:02d}"))
        manifests[split] = out / f"{split}.jsonl"
        write_manifest(manifests[split], utts)
    return manifests
