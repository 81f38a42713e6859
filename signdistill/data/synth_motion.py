"""How the embedded data moves: signs as motion primitives, signers, and keypoint rendering.

A gloss is a :class:`Primitive`-like path of the dominant hand plus handshape, orientation and
a non-dominant hand (see :mod:`signdistill.data.synth` for the whole picture); a signer has
their own body, tempo and per-sign variants; :func:`_render` turns a track into ``(T, 36)``
keypoints with tracker jitter and dropouts.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np

FEATURE_DIM = 36
REST_LEFT = np.array([-0.22, -0.35])
REST_RIGHT = np.array([0.22, -0.35])


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
