"""Read pose-format ``.pose`` files (MediaPipe Holistic, OpenPose, ...) as ``[T, D]`` features.

Needs the optional ``pose-format`` package (``pip install 'signdistill[pose]'``). A manifest
may point at ``.pose`` files directly; they are read with :func:`pose_to_features` using
the default :class:`PoseFeatureSpec` (or the one given to the dataset).

Steps: choose components (and optionally points within them), take the first person,
treat points with confidence below a threshold as missing and fill them by linear
interpolation over time (zeros where a point is never seen), center on the midpoint of
two reference points (the shoulders) and divide by their distance, and flatten to
``[frames, points x dims]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from signdistill.errors import DataError

# MediaPipe Holistic names, as pose-format writes them.
MEDIAPIPE_DEFAULT = ("POSE_LANDMARKS", "LEFT_HAND_LANDMARKS", "RIGHT_HAND_LANDMARKS")


@dataclass(frozen=True)
class PoseFeatureSpec:
    """Which keypoints become features, and how they are normalized."""

    components: tuple[str, ...] = MEDIAPIPE_DEFAULT
    points: dict[str, tuple[str, ...]] = field(default_factory=dict)  # component -> subset of its points
    reference: tuple[tuple[str, str], tuple[str, str]] = (("POSE_LANDMARKS", "LEFT_SHOULDER"), ("POSE_LANDMARKS", "RIGHT_SHOULDER"))
    dims: int = 2  # x, y (3 adds z when the file has it)
    min_confidence: float = 0.2
    normalize: bool = True


def _require_pose_format():
    try:
        from pose_format import Pose
    except ImportError:
        raise DataError("Reading .pose files needs the optional package 'pose-format': pip install 'signdistill[pose]'") from None
    return Pose


def _interpolate_missing(x: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Fill missing (T, P) entries of x (T, P, C) linearly over time; zeros if never seen."""
    t = np.arange(x.shape[0])
    out = x.copy()
    for p in range(x.shape[1]):
        seen = ~missing[:, p]
        if not seen.any():
            out[:, p] = 0.0
        elif (~seen).any():
            for c in range(x.shape[2]):
                out[~seen, p, c] = np.interp(t[~seen], t[seen], x[seen, p, c])
    return out


def pose_to_features(path: str | Path, spec: PoseFeatureSpec | None = None) -> np.ndarray:
    """Read one ``.pose`` file as a float32 ``[T, D]`` array (see the module docstring)."""
    spec = spec or PoseFeatureSpec()
    pose_cls = _require_pose_format()
    path = Path(path)
    try:
        pose = pose_cls.read(path.read_bytes())
    except Exception as exc:  # pose-format raises struct/Value/Index errors on bad files
        raise DataError(f"{path} is not a readable .pose file ({type(exc).__name__}: {exc}).") from None
    header = pose.header
    names = [c.name for c in header.components]
    offsets, index = {}, 0
    for comp in header.components:
        offsets[comp.name] = (index, comp.points)
        index += len(comp.points)

    def point_index(component: str, point: str) -> int:
        if component not in offsets:
            raise DataError(f"{path}: no component {component!r}; the file has {names}.")
        start, points = offsets[component]
        if point not in points:
            raise DataError(f"{path}: component {component!r} has no point {point!r}.")
        return start + points.index(point)

    chosen: list[int] = []
    for comp in spec.components:
        if comp not in offsets:
            raise DataError(f"{path}: no component {comp!r}; the file has {names}. Set the components to use.")
        start, points = offsets[comp]
        subset = spec.points.get(comp)
        chosen += [start + points.index(p) for p in subset] if subset else list(range(start, start + len(points)))
    data = np.asarray(pose.body.data.filled(0.0) if np.ma.isMaskedArray(pose.body.data) else pose.body.data, dtype=np.float32)
    conf = np.asarray(pose.body.confidence, dtype=np.float32)
    if data.ndim != 4 or data.shape[0] == 0:
        raise DataError(f"{path}: expected pose data (frames, people, points, dims) with frames > 0; got {data.shape}.")
    xyz = data[:, 0, :, : spec.dims]  # first person: (T, P, C)
    missing = conf[:, 0, :] < spec.min_confidence  # (T, P)
    if spec.normalize:
        a = point_index(*spec.reference[0])
        b = point_index(*spec.reference[1])
        ok = ~missing[:, a] & ~missing[:, b]
        if ok.any():
            center = (xyz[ok, a] + xyz[ok, b]).mean(0) / 2
            scale = float(np.linalg.norm(xyz[ok, a] - xyz[ok, b], axis=-1).mean()) or 1.0
            xyz = (xyz - center) / scale
    xyz = _interpolate_missing(xyz, missing)[:, chosen]
    return np.ascontiguousarray(xyz.reshape(xyz.shape[0], -1), dtype=np.float32)
