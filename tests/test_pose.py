"""pose-format .pose files as features (files made by the test itself)."""

import importlib.util
import json

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("pose_format") is None, reason="needs the pose extra")

BODY = ["NOSE", "LEFT_SHOULDER", "RIGHT_SHOULDER", "LEFT_WRIST", "RIGHT_WRIST"]
HAND = ["WRIST", "THUMB_TIP", "INDEX_FINGER_TIP"]


def write_pose(path, frames=12, missing=()):
    from pose_format import Pose
    from pose_format.numpy.pose_body import NumPyPoseBody
    from pose_format.pose_header import PoseHeader, PoseHeaderComponent, PoseHeaderDimensions

    comps = [
        PoseHeaderComponent("POSE_LANDMARKS", BODY, [], [], "XYC"),
        PoseHeaderComponent("LEFT_HAND_LANDMARKS", HAND, [], [], "XYC"),
        PoseHeaderComponent("RIGHT_HAND_LANDMARKS", HAND, [], [], "XYC"),
        PoseHeaderComponent("FACE_LANDMARKS", ["LIP"], [], [], "XYC"),
    ]
    header = PoseHeader(0.1, PoseHeaderDimensions(640, 480), comps)
    n_points = len(BODY) + 2 * len(HAND) + 1
    rng = np.random.default_rng(0)
    data = rng.uniform(100, 400, size=(frames, 1, n_points, 2)).astype(np.float32)
    data[:, 0, 1] = [200, 300]  # left shoulder
    data[:, 0, 2] = [300, 300]  # right shoulder: center (250, 300), width 100
    conf = np.ones((frames, 1, n_points), np.float32)
    for t, p in missing:
        conf[t, 0, p] = 0.0
        data[t, 0, p] = 0.0
    pose = Pose(header, NumPyPoseBody(25, data, conf))
    with open(path, "wb") as f:
        pose.write(f)
    return data


def test_pose_to_features_normalizes_fills_and_selects(tmp_path):
    from signdistill.data.pose import PoseFeatureSpec, pose_to_features

    data = write_pose(tmp_path / "a.pose", missing=[(3, 3), (4, 3)])
    x = pose_to_features(tmp_path / "a.pose")
    assert x.shape == (12, (len(BODY) + 2 * len(HAND)) * 2)  # face not chosen by default
    pts = x.reshape(12, -1, 2)
    assert np.allclose(pts[:, 1], [-0.5, 0]) and np.allclose(pts[:, 2], [0.5, 0])  # shoulders at +-0.5
    expected = ((data[2, 0, 3] + (data[5, 0, 3] - data[2, 0, 3]) / 3) - [250, 300]) / 100
    assert np.allclose(pts[3, 3], expected, atol=1e-4)  # interpolated across the gap
    spec = PoseFeatureSpec(
        components=("POSE_LANDMARKS", "FACE_LANDMARKS"), points={"POSE_LANDMARKS": ("LEFT_WRIST", "RIGHT_WRIST")}, normalize=False
    )
    y = pose_to_features(tmp_path / "a.pose", spec)
    assert y.shape == (12, 3 * 2) and np.allclose(y[0, :2], data[0, 0, 3])


def test_manifest_can_point_at_pose_files(tmp_path):
    from signdistill.data import SignDataset, Vocabulary, read_manifest

    write_pose(tmp_path / "a.pose")
    write_pose(tmp_path / "b.pose", frames=20)
    (tmp_path / "m.jsonl").write_text(
        "\n".join(json.dumps({"id": i, "features": f"{i}.pose", "gloss": "HELLO WORLD"}) for i in ("a", "b")) + "\n"
    )
    utts = read_manifest(tmp_path / "m.jsonl")
    ds = SignDataset(utts, Vocabulary.build(u.glosses for u in utts))
    assert ds.lengths == [12, 20] and ds.feature_dim == 22


def test_bad_pose_file_and_missing_component(tmp_path):
    from signdistill.data.pose import PoseFeatureSpec, pose_to_features
    from signdistill.errors import DataError

    (tmp_path / "bad.pose").write_bytes(b"not a pose file")
    with pytest.raises(DataError, match="not a readable .pose"):
        pose_to_features(tmp_path / "bad.pose")
    write_pose(tmp_path / "a.pose")
    with pytest.raises(DataError, match="no component 'BODY_135'"):
        pose_to_features(tmp_path / "a.pose", PoseFeatureSpec(components=("BODY_135",)))
