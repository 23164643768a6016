"""The identity protocol at matched head pose: each frame's head pose read from MediaPipe's face mesh (not from the
method's model), and identity distances taken against the reference person's own frames at each driving frame's
pose, with the own-frames anchor (the reference person's real face at that pose)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from faceflt.evaluation.clips import Clip, detect_clip
from faceflt.evaluation.features import turn
from faceflt.evaluation.head_pose import detect_mesh, head_poses, pose_against
from faceflt.evaluation.synthetic import on_and_off, truth, truth_landmarks
from faceflt.evaluation.transfer import POSE_PITCH, POSE_YAW, own_frames, paste, person, score_pair, summarise

from conftest import SHARED, require

SIZE = (512, 512)


def _rotation(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """Head axes -> image axes (x right, y down, z away from the camera), angles in degrees."""
    y, p, r = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(-y), 0, np.sin(-y)], [0, 1, 0], [-np.sin(-y), 0, np.cos(-y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(-p), -np.sin(-p)], [0, np.sin(-p), np.cos(-p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return ry @ rx @ rz


def _face(rng) -> np.ndarray:
    """A face-like cloud of 468 points in head axes: the mesh's paired points mirror each other, the forehead's top
    (10) above the chin (152), the nose tip (1) towards the camera."""
    face = rng.uniform([-1, -1.6, -0.2], [1, 1.6, 0.6], (468, 3))
    for right, left in ((33, 263), (133, 362), (61, 291), (234, 454)):
        face[right, 0] = -abs(face[right, 0])  # the face's right side is the image's left
        face[left] = face[right] * [-1, 1, 1]
    face[10], face[152], face[1] = (0, -1.7, 0.2), (0, 1.6, 0.2), (0, 0.1, -0.7)
    return face


def test_head_pose_reads_known_rotations():
    """Faces turned by known angles, seen at several sizes and places, read back within 0.5 degrees against the
    population's mean face; yaw > 0 is the nose to the image's right, pitch > 0 a face looking up."""
    rng = np.random.default_rng(0)
    face = _face(rng)
    angles = [(0, 0, 0), (20, 0, 0), (-25, 0, 0), (0, 12, 0), (0, -15, 0), (0, 0, 10), (15, -10, 0), (-10, 8, 0)]
    mesh = np.stack([(face @ _rotation(*a).T) * rng.uniform(80, 150) + rng.uniform(100, 400, 3) for a in angles])
    mesh += rng.normal(0, 0.05, mesh.shape)
    nose, eyes = mesh[:, 1], (mesh[:, 33] + mesh[:, 263]) / 2
    below = lambda k: (nose[k, 1] - eyes[k, 1]) / np.linalg.norm(mesh[k, 263] - mesh[k, 33])  # the nose under the eyes
    assert nose[1, 0] > eyes[1, 0] and below(3) < below(0) < below(4)  # yaw 20: to the right; pitch 12: up; -15: down
    missing = np.full((1, 468, 3), np.nan)
    poses = head_poses({"a": np.concatenate([mesh, missing]), "b": mesh[::-1]})
    np.testing.assert_allclose(poses["a"][:-1], angles, atol=0.5)
    assert np.isnan(poses["a"][-1]).all()
    np.testing.assert_allclose(poses["b"], angles[::-1], atol=0.5)
    # against the face itself, too
    np.testing.assert_allclose(pose_against(mesh, face), angles, atol=0.5)


def test_head_pose_on_a_real_video_follows_the_protocols_turn(tmp_path):
    """On a real video (MediaPipe's face mesh, cached), the yaw goes with the protocol's 2D turn measure (dlib's
    points): correlation 0.99 on LivePortrait's d3, whose head turns both ways."""
    pytest.importorskip("mediapipe.python.solutions.face_mesh", reason="MediaPipe is in the default install on Python <= 3.12")
    path = require(SHARED / "data" / "videos" / "liveportrait_d3.mp4", "liveportrait_d3.mp4")
    mesh = detect_mesh(path, tmp_path)
    assert (tmp_path / "liveportrait_d3.mesh.npz").is_file()
    np.testing.assert_array_equal(detect_mesh(path, tmp_path), mesh)  # from the cache
    clip = detect_clip(path, "dlib", tmp_path)
    assert len(mesh) == len(clip.landmarks) and np.isfinite(mesh).all((1, 2)).mean() > 0.95
    yaw = head_poses({"d3": mesh})["d3"][:, 0]
    t = turn(clip.landmarks)
    ok = np.isfinite(t) & np.isfinite(yaw)
    assert np.corrcoef(t[ok], yaw[ok])[0, 1] > 0.9
    assert np.ptp(yaw[ok]) > 20


def _clip(model, name: str, shape: np.ndarray, expression: np.ndarray, ypr: np.ndarray, rng) -> Clip:
    lms = truth_landmarks(model, truth(model, np.tile(shape, (len(ypr), 1)), expression, ypr)) + rng.normal(0, 0.3, (len(ypr), 68, 2))
    return Clip(name, Path(f"{name}.mp4"), lms.astype(np.float32), np.ones((len(ypr), 68), np.float32), SIZE, 30.0,
                head_pose=np.asarray(ypr, np.float64))


def test_at_matched_head_pose_the_exact_answer_is_the_reference_person(model):
    """Two people drawn from the face model, filmed by cameras 8 degrees of pitch apart (A from above, B from
    below, their nods overlapping): the exact answer (A's identity with B's expression and pose) scores about 1 at
    matched head pose, while the comparison with A at A's own pitch counts the cameras' difference as identity and
    gives it much less; paste, A's picture with A's pitch, scores lower at matched pose than the exact answer; and
    own-frames, A's own frames at B's pose (noisy, 0.3 px, as the exact answer), scores near it. Measured: the exact
    answer 0.97 at matched pose and 0.83 without; paste 0.64 and 0.80 (ahead of the exact answer there); own-frames
    0.79 at matched pose."""
    rng = np.random.default_rng(5)
    frames = 240
    t = np.arange(frames)
    shapes = rng.normal(0, 1.0, (2, model.num_shape_coefficients))
    expressions = [on_and_off(rng, model, frames, pace=(4, 9), off=0.4) for _ in range(2)]
    yprs = [np.c_[22 * np.sin(t / k) ** 3, c + 6 * np.sin(t / j), np.zeros(frames)] for k, j, c in ((17, 7, 4.0), (23, 9, -4.0))]
    a, b = (person(_clip(model, n, s, e, ypr, rng)) for n, s, e, ypr in zip("ab", shapes, expressions, yprs))
    assert not isinstance(a, str) and not isinstance(b, str)
    driving = b.clip.landmarks
    exact = _clip(model, "x", shapes[0], expressions[1], yprs[1], rng).landmarks
    scores = [score_pair(a, b, "exact", exact, frames), score_pair(a, b, "driver", driving, frames),
              score_pair(a, b, "paste", paste(a.reference_landmarks, driving), frames),
              score_pair(a, b, "own-frames", own_frames(a, driving, b.clip.head_pose), frames)]
    by = {s.method: s for s in scores}
    assert by["driver"].transfer_posed == pytest.approx(0.0)
    assert by["exact"].transfer_posed > 0.85 and by["exact"].transfer_posed > by["exact"].transfer + 0.1, by["exact"]
    assert by["paste"].transfer_posed < by["exact"].transfer_posed - 0.05
    assert by["own-frames"].transfer_posed > 0.7, by["own-frames"]
    for s in scores:  # the head-turn figures at matched pose, too
        assert set(s.posed_turned) == {-1, 1}, s.method
    turned = lambda s: 1 - sum(o for o, _ in s.posed_turned.values()) / sum(d for _, d in s.posed_turned.values())
    assert turned(by["exact"]) > 0.8
    summary = summarise(scores, "exact").at_pose
    assert summary.transfer == pytest.approx(by["exact"].transfer_posed) and summary.pairs == 1 and summary.negative == 0
    # without head poses, no figure at matched pose
    bare = person(replace(a.clip, head_pose=None))
    unposed = score_pair(bare, b, "exact", exact, frames)
    assert np.isnan(unposed.transfer_posed) and summarise([unposed], "exact").at_pose is None


def test_own_frames_takes_the_nearest_frame_within_the_tolerance(model):
    """own-frames takes, of the reference person's first-third frames within POSE_YAW and POSE_PITCH of a driving
    frame's pose, the nearest; a frame nearer on one axis but outside the tolerance on the other is not taken."""
    rng = np.random.default_rng(2)
    frames = 90
    shape = rng.normal(0, 1.0, model.num_shape_coefficients)
    still = np.zeros((frames, 3))
    clip = _clip(model, "a", shape, np.zeros((frames, model.num_expression_coefficients)), still, rng)
    labels = np.tile([POSE_YAW * 1.1, 0.0, 0.0], (frames, 1))  # just outside in yaw, exact in pitch
    labels[5] = (POSE_YAW * 0.9, POSE_PITCH * 0.9, 0.0)  # inside on both, further in sum
    marked = clip.landmarks.copy()
    marked[5, 8, 1] += 6.0  # frame 5's chin 6 px lower: the frame that own-frames takes shows it
    a = person(replace(clip, landmarks=marked, head_pose=labels))
    assert not isinstance(a, str) and 5 in a.early
    driving = clip.landmarks[20:30] + 50.0
    out = own_frames(a, driving, np.zeros((10, 3)))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[:, 8, 1] - driving[:, 8, 1], 6.0, atol=1.5)
    # nothing within the tolerance: NaN
    assert np.isnan(own_frames(a, driving, np.tile([0.0, POSE_PITCH * 3, 0.0], (10, 1)))).all()


def test_the_report_leaves_out_what_no_pair_has_at_matched_head_pose(tmp_path):
    """A mode with no figure at matched head pose (too few driving frames of its output at poses the reference person
    shows) has no paired row there, and the report is still written; scores.json holds no NaN (JSON has none)."""
    from faceflt.evaluation.transfer import PairScores
    from faceflt.evaluation.transfer_report import ProtocolResult, write_report

    nan = float("nan")

    def pair(a, b, method, d_out, posed):
        return PairScores(a, b, method, d_out, 1.0, {}, {"mouth_opening": 0.5}, 1.0, 1.0, 10, posed=posed)

    scores = [pair(a, b, m, d, (d, 1.0) if m != "relative" else (nan, nan))
              for a, b in (("A", "B"), ("B", "A")) for m, d in (("driver", 1.0), ("paste", 0.3), ("relative-2d", 0.5), ("relative", 0.4))]
    methods = ["driver", "paste", "relative-2d", "relative"]
    result = ProtocolResult(["A", "B"], {}, scores, [summarise(scores, m) for m in methods], {}, 10, {}, [("A", "B"), ("B", "A")], {})
    assert result.summaries[3].at_pose is None and result.summaries[1].at_pose is not None
    text = write_report(result, tmp_path)
    assert "At matched head pose" in text and "| relative - paste |" in text and "| relative - paste, at matched head pose |" not in text
    import json

    json.loads((tmp_path / "scores.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in scores.json"))
