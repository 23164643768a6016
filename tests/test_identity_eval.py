"""The paper's video identity protocol: embeddings, cosine similarity per video, Frechet distance."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from faceflt.evaluation.identity import (
    ARCFACE_TEMPLATE,
    ArcfaceEmbedder,
    DlibEmbedder,
    bijection,
    frechet_distance,
    video_identity,
)

from conftest import IMAGES, SHARED, require


def _factorial(mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Points mean + scale * s for every sign vector s: their sample covariance is exactly diagonal."""
    signs = np.array(list(itertools.product([-1.0, 1.0], repeat=len(mean))))
    return mean + signs * scale


def test_frechet_distance_matches_the_closed_form():
    rng = np.random.default_rng(0)
    d = 4
    mu_a, mu_b = rng.normal(size=d), rng.normal(size=d)
    s_a, s_b = rng.uniform(0.5, 2, d), rng.uniform(0.5, 2, d)
    a, b = _factorial(mu_a, s_a), _factorial(mu_b, s_b)
    k = len(a) / (len(a) - 1)  # np.cov's unbiased normalisation
    closed = np.sum((mu_a - mu_b) ** 2) + np.sum((np.sqrt(k) * s_a - np.sqrt(k) * s_b) ** 2)
    assert frechet_distance(a, b) == pytest.approx(closed, rel=1e-9)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    # rotating both sets the same way changes nothing (general, non-diagonal covariances)
    q = np.linalg.qr(rng.normal(size=(d, d)))[0]
    assert frechet_distance(a @ q, b @ q) == pytest.approx(closed, rel=1e-9)


def test_same_person_is_more_similar_than_another(tmp_path):
    import cv2

    video = require(SHARED / "data" / "videos" / "liveportrait_d3.mp4", "liveportrait_d3.mp4")
    other = require(IMAGES / "image_0010.png", "image_0010")
    from faceflt.io import open_frames

    first = next(iter(open_frames(video)))[1]
    cv2.imwrite(str(tmp_path / "self.png"), first[..., ::-1])
    embedder = DlibEmbedder()
    same = video_identity(embedder, video, tmp_path / "self.png", max_frames=12)
    different = video_identity(embedder, video, other, max_frames=12)
    assert same.faces == 12 and same.frames == 12
    assert same.mean_similarity > 0.9 > different.mean_similarity
    assert same.variance >= 0


def test_bijection_is_a_fixed_permutation(tmp_path):
    videos = [tmp_path / f"v{i}.mp4" for i in range(4)]
    refs = [tmp_path / f"r{i}.png" for i in range(4)]
    pairs = bijection(videos, refs, seed=3)
    assert pairs == bijection(list(reversed(videos)), refs, seed=3)
    assert sorted(r for _, r in pairs) == sorted(refs)


def test_arcface_preprocessing_on_a_synthetic_model(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["input"], ["pooled"]), helper.make_node("Flatten", ["pooled"], ["flat"]),
         helper.make_node("MatMul", ["flat", "w"], ["embedding"])],
        "arcface_like", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, 8])], [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "arcface.onnx"))
    from faceflt.io import read_image

    image = read_image(require(IMAGES / "image_0010.png", "image_0010"))
    embedder = ArcfaceEmbedder(str(tmp_path / "arcface.onnx"))
    vector = embedder.embed(image)
    assert vector.shape == (8,) and np.linalg.norm(vector) == pytest.approx(1.0)
    # the alignment puts the five points on ArcFace's template
    import cv2

    from faceflt.plugins import make_detector

    five = ArcfaceEmbedder.five_points(make_detector("dlib").detect([image]).landmarks[0])
    matrix, _ = cv2.estimateAffinePartial2D(five, ARCFACE_TEMPLATE, method=cv2.LMEDS)
    moved = five @ matrix[:, :2].T + matrix[:, 2]
    # eyes and mouth corners land on the template; the nose of this turned face (yaw -28 deg) lies off it
    assert np.abs(moved - ARCFACE_TEMPLATE)[[0, 1, 3, 4]].max() < 2
    assert embedder.aligned(image, five).shape == (112, 112, 3)


def test_inception_features_of_the_face_crop_feed_the_frechet_distance(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    # an Inception-like model: the mean colour of its 299 x 299 input
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["input"], ["pooled"]), helper.make_node("Flatten", ["pooled"], ["features"])],
        "inception_like", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 299, 299])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "inception.onnx"))
    from faceflt.evaluation.identity import InceptionEmbedder, evaluate_videos
    from faceflt.io import read_image
    from faceflt.plugins import make_detector

    image = read_image(require(IMAGES / "image_0010.png", "image_0010"))
    inception = InceptionEmbedder(str(tmp_path / "inception.onnx"))
    assert inception.size == 299
    crop = inception.crop(image, make_detector("dlib").detect([image]).landmarks[0])
    assert crop.shape == (299, 299, 3) and crop.mean() > 20  # a face, not the black border
    np.testing.assert_allclose(inception.embed(image), (crop / 127.5 - 1).reshape(-1, 3).mean(0), atol=1e-4)

    video = require(SHARED / "data" / "videos" / "liveportrait_d3.mp4", "liveportrait_d3.mp4")
    pairs = [(video, IMAGES / "image_0010.png"), (video, IMAGES / "liveportrait_d9.jpg")]
    results, fd = evaluate_videos(pairs, DlibEmbedder(), max_frames=4, features=inception)
    assert [r.faces for r in results] == [4, 4]
    # the distance is over the 3-D colour features: 8 frame crops against the 2 reference crops
    from faceflt.io import open_frames

    frames = [inception.embed(frame) for _, (_, frame) in zip(range(4), open_frames(video))]
    refs = [inception.embed(read_image(p)) for _, p in pairs]
    assert fd == pytest.approx(frechet_distance(np.stack(frames * 2), np.stack(refs)), rel=1e-6)
    with pytest.raises(Exception, match="no Inception ONNX model"):
        InceptionEmbedder(str(tmp_path / "missing.onnx"))
