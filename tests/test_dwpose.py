"""The DWPose detector's loading, pre- and post-processing, on small ONNX models built here with
DWPose's input and output signatures (no weights: those are the user's)."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from faceflt.plugins import make_detector  # noqa: E402


def _save(graph, path):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


def yolox_model(path, raw: np.ndarray):
    """(1, 3, 640, 640) -> (1, 8400, 85): the given raw head output (the input only sets the shape)."""
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["z", "raw"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "yolox_like",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 8400, 85])],
        [numpy_helper.from_array(np.zeros((), np.float32), "zero"), numpy_helper.from_array(raw[None].astype(np.float32), "raw")],
    )
    return _save(graph, path)


def rtmpose_model(path):
    """(1, 3, 384, 288) -> SimCC (1, 133, 576), (1, 133, 768) peaking at the brightest column and row
    of the crop, for every keypoint: the decoded points land on the brightest spot of the image."""
    up_x = np.zeros((288, 576), np.float32)
    up_x[np.arange(288), 2 * np.arange(288)] = 1.0
    up_y = np.zeros((384, 768), np.float32)
    up_y[np.arange(384), 2 * np.arange(384)] = 1.0
    nodes = [
        helper.make_node("ReduceMax", ["input"], ["m"], axes=[1], keepdims=0),   # (1, 384, 288)
        helper.make_node("ReduceMax", ["m"], ["px"], axes=[1], keepdims=0),      # (1, 288)
        helper.make_node("ReduceMax", ["m"], ["py"], axes=[2], keepdims=0),      # (1, 384)
        helper.make_node("MatMul", ["px", "up_x"], ["x"]),
        helper.make_node("MatMul", ["py", "up_y"], ["y"]),
        helper.make_node("Unsqueeze", ["x", "axis1"], ["x3"]),
        helper.make_node("Unsqueeze", ["y", "axis1"], ["y3"]),
        helper.make_node("Expand", ["x3", "shape_x"], ["simcc_x"]),
        helper.make_node("Expand", ["y3", "shape_y"], ["simcc_y"]),
    ]
    graph = helper.make_graph(
        nodes, "rtmpose_like",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 384, 288])],
        [helper.make_tensor_value_info("simcc_x", TensorProto.FLOAT, [1, 133, 576]),
         helper.make_tensor_value_info("simcc_y", TensorProto.FLOAT, [1, 133, 768])],
        [numpy_helper.from_array(up_x, "up_x"), numpy_helper.from_array(up_y, "up_y"),
         numpy_helper.from_array(np.array([1], np.int64), "axis1"),
         numpy_helper.from_array(np.array([1, 133, 576], np.int64), "shape_x"),
         numpy_helper.from_array(np.array([1, 133, 768], np.int64), "shape_y")],
    )
    return _save(graph, path)


def anchor_index(stride: int, gx: int, gy: int) -> int:
    offset = {8: 0, 16: 80 * 80, 32: 80 * 80 + 40 * 40}[stride]
    return offset + gy * (640 // stride) + gx


@pytest.fixture()
def models(tmp_path):
    """A person box from the detector: the image is 640 x 480, so the letterbox ratio is 1."""
    raw = np.zeros((8400, 85), np.float32)
    raw[:, 4] = 0.01
    # The person: centre (300, 220), 160 x 320 px, at a stride-16 anchor (18, 13) with offset (0.75, 0.75).
    a = anchor_index(16, 18, 13)
    raw[a, :6] = [0.75, 0.75, np.log(160 / 16), np.log(320 / 16), 0.95, 0.95]
    # A weaker duplicate of it (suppressed by NMS) and a confident non-person (ignored).
    b = anchor_index(16, 18, 13) + 1
    raw[b, :6] = [-0.25, 0.75, np.log(150 / 16), np.log(300 / 16), 0.9, 0.8]
    c = anchor_index(32, 2, 2)
    raw[c, :6] = [0.5, 0.5, np.log(50 / 32), np.log(50 / 32), 0.99, 0.0]
    raw[c, 6] = 0.99
    return yolox_model(tmp_path / "yolox_like.onnx", raw), rtmpose_model(tmp_path / "rtmpose_like.onnx")


def test_detection_crop_and_decoding_land_on_the_bright_spot(models):
    det_path, pose_path = models
    image = np.zeros((480, 640, 3), np.uint8)
    image[228:231, 319:322] = 255  # a white dot centred at (320, 229)
    detector = make_detector("dwpose", detector_model=det_path, pose_model=pose_path)
    found = detector.detect([image])
    assert found.found[0]
    # Every keypoint of this model lands on the dot, within the crop's half-pixel SimCC resolution.
    np.testing.assert_allclose(found.landmarks[0], np.tile([320.0, 229.0], (68, 1)), atol=1.5)
    body = found.body[0]
    np.testing.assert_allclose(body, np.tile([320.0, 229.0], (18, 1)), atol=1.5)  # neck = mean of shoulders too
    assert found.body_scores[0, 1] == 1.0 and found.hands.shape == (1, 2, 21, 2)


def test_person_box_decoding(models):
    import onnxruntime as ort

    from faceflt.plugins.builtin.dwpose_detector import decode_yolox

    det_path, _ = models
    session = ort.InferenceSession(det_path, providers=["CPUExecutionProvider"])
    raw = session.run(None, {"images": np.zeros((1, 3, 640, 640), np.float32)})[0][0]
    people = decode_yolox(raw, 640, ratio=0.5, min_score=0.3)
    assert len(people) == 1  # the duplicate is suppressed, the non-person ignored
    np.testing.assert_allclose(people[0, :4], np.array([220.0, 60.0, 380.0, 380.0]) / 0.5, atol=1e-3)
    assert people[0, 4] == pytest.approx(0.95 * 0.95)


def test_known_box_skips_the_detector_and_no_person_gives_nan(models, tmp_path):
    det_path, pose_path = models
    image = np.zeros((480, 640, 3), np.uint8)
    image[100:103, 100:103] = 255
    detector = make_detector("dwpose", detector_model=det_path, pose_model=pose_path)
    found = detector.detect([image], boxes=np.array([[50, 50, 150, 150]], np.float32))
    np.testing.assert_allclose(found.landmarks[0, 0], [101, 101], atol=1.5)
    empty = yolox_model(tmp_path / "none.onnx", np.zeros((8400, 85), np.float32))
    nobody = make_detector("dwpose", detector_model=empty, pose_model=pose_path).detect([image])
    assert not nobody.found[0] and np.isnan(nobody.body).all()


def test_missing_weights_say_they_are_the_users(tmp_path):
    with pytest.raises(FileNotFoundError, match="DWPose's weights are the user's to supply"):
        make_detector("dwpose", detector_model=str(tmp_path / "yolox_l.onnx"), pose_model="")
