"""Reading eos's model files: contents against eos-py, every class version, and bad files."""

from __future__ import annotations

import shutil
import struct

import numpy as np
import pytest

import faceflt
from faceflt import _core
from faceflt.errors import ModelFormatError, ModelNotFoundError

import cereal_writer as cw


def test_loads_the_surrey_face_model(model):
    assert model.num_vertices == 3448
    assert model.triangles.shape == (6736, 3)
    assert model.num_shape_coefficients == 63
    assert model.expression_names == ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]
    assert model.texcoords.shape == (3448, 2)
    assert model.texcoords.min() >= 0 and model.texcoords.max() <= 1
    # 50 iBUG points are mapped by ibug_to_sfm.txt, 2 inner mouth corners by faceflt, 16 are contour.
    assert (model.landmark_vertices >= 0).sum() == 52
    assert list(np.flatnonzero(model.landmark_vertices < 0)) == [*range(0, 8), *range(9, 17)]


def test_contents_match_eos(model, model_dir, eos):
    m = eos.morphablemodel.load_model(str(model_dir / "sfm_shape_3448.bin"))
    shape = m.get_shape_model()
    np.testing.assert_array_equal(model.mean.reshape(-1), np.asarray(shape.get_mean()))
    rescaled = np.asarray(shape.get_rescaled_pca_basis())
    np.testing.assert_allclose(model.shape_components.reshape(63, -1).T, rescaled, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(model.triangles, np.asarray(shape.get_triangle_list()))
    np.testing.assert_allclose(model.texcoords, np.asarray(m.get_texture_coordinates()), atol=1e-7)
    bs = eos.morphablemodel.load_blendshapes(str(model_dir / "expression_blendshapes_3448.bin"))
    assert [b.name for b in bs] == model.expression_names
    for k, b in enumerate(bs):
        np.testing.assert_array_equal(model.expression_components[k].reshape(-1), np.asarray(b.deformation))


def test_mapping_contours_and_edges(model_dir, model):
    from faceflt.model_files import read_edge_topology, read_landmark_mapping

    mapping = read_landmark_mapping(model_dir / "ibug_to_sfm.txt")
    vertex, right, left = mapping.vertex, mapping.right_contour, mapping.left_contour
    assert vertex.shape == (68,) and (vertex >= 0).sum() == 50
    assert vertex[8] == 33 and vertex[30] == 114  # iBUG 9 (chin) and 31 (nose tip), 1-based in the file
    assert list(right) == list(range(0, 8)) and list(left) == list(range(9, 17))
    assert list(model.right_contour[:3]) == [380, 373, 356] and len(model.left_contour) == 17
    faces, verts = read_edge_topology(model_dir / "sfm_3448_edge_topology.json")
    assert faces.shape == verts.shape == (10184, 2)
    assert faces.min() == -1 and faces.max() < 6736 and verts.min() >= 0 and verts.max() < 3448


@pytest.mark.parametrize("version", [1, 2, 3, 4])
@pytest.mark.parametrize("expression", ["blendshapes", "pca"])
def test_every_class_version(tmp_path, eos, version, expression):
    rng = np.random.default_rng(version)
    n, m = 5, 3
    mean = rng.normal(size=3 * n)
    basis = np.linalg.qr(rng.normal(size=(3 * n, m)))[0]
    eigen = np.array([4.0, 2.0, 1.0])
    tris = np.array([[0, 1, 2], [2, 3, 4]])
    shape = cw.pca_model(mean, basis, eigen, tris)
    deltas = rng.normal(size=(2, 3 * n))
    expr = cw.blendshapes(["smile", "blink"], deltas) if expression == "blendshapes" else cw.pca_model(
        np.zeros(3 * n), basis[:, :2], eigen[:2], tris)
    uv = rng.uniform(size=(n, 2))
    data = cw.morphable_model(version, shape, uv, expr, expression_index=0 if expression == "pca" else 1,
                              landmarks={"nose": 3}, texture_triangles=tris)
    path = tmp_path / f"v{version}.bin"
    path.write_bytes(data)

    got = _core.load_morphable_model(str(path))
    assert got.version == version
    np.testing.assert_allclose(got.shape_mean.reshape(-1), mean, rtol=1e-6)
    np.testing.assert_allclose(got.shape_basis, basis, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.shape_eigenvalues, eigen)
    np.testing.assert_array_equal(got.triangles, tris)
    np.testing.assert_allclose(got.texcoords, uv, rtol=1e-6)
    assert not got.has_color_model
    if version >= 2:
        assert got.expression_kind == expression
        if expression == "blendshapes":
            assert got.expression_names == ["smile", "blink"]
            np.testing.assert_allclose(got.expression_components.reshape(2, -1), deltas, rtol=1e-6)
        else:  # PCA expression models are held as their rescaled basis
            np.testing.assert_allclose(got.expression_components.reshape(2, -1).T, basis[:, :2] * np.sqrt(eigen[:2]), rtol=1e-5, atol=1e-6)
    else:
        assert got.expression_kind == "none"
    assert got.landmark_definitions == ({"nose": 3} if version >= 3 else {})
    np.testing.assert_array_equal(got.texture_triangles, tris if version >= 4 else np.zeros((0, 3)))

    # The independent reader agrees on what the file holds.
    ref = eos.morphablemodel.load_model(str(path))
    np.testing.assert_allclose(np.asarray(ref.get_shape_model().get_mean()), mean, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ref.get_texture_coordinates()), uv, rtol=1e-6)


# ---- bad files: every one raises ModelFormatError naming the file, never crashes or over-allocates


@pytest.fixture()
def shape_bytes(model_dir):
    return (model_dir / "sfm_shape_3448.bin").read_bytes()


@pytest.mark.parametrize("cut", [0, 2, 4, 11, 41388, 41396, 2648084, 2648352, 2729190, 2729216, 2784391])
def test_truncated_model_file(tmp_path, shape_bytes, cut):
    path = tmp_path / "sfm_shape_3448.bin"
    path.write_bytes(shape_bytes[:cut])
    with pytest.raises(ModelFormatError, match=r"sfm_shape_3448\.bin.*(truncated|expected)"):
        _core.load_morphable_model(str(path))


@pytest.mark.parametrize(
    "offset, value, field",
    [
        (0, struct.pack("<I", 7), "version"),                       # unknown class version
        (4, struct.pack("<i", 2**30), "mean"),                      # a huge row count
        (41388, struct.pack("<i", -5), "orthonormal_pca_basis"),    # a negative size
        (2648344, struct.pack("<Q", 2**62), "triangle_list"),       # a huge element count
        (2648352, struct.pack("<i", 5000), "triangle_list"),        # a vertex id out of range
        (2729216, struct.pack("<Q", 10), "texture_coordinates"),    # wrong number of UVs
    ],
)
def test_corrupted_model_file(tmp_path, shape_bytes, offset, value, field):
    data = bytearray(shape_bytes)
    data[offset : offset + len(value)] = value
    path = tmp_path / "bad.bin"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match=rf"bad\.bin.*{field}"):
        _core.load_morphable_model(str(path))


def test_trailing_bytes_and_wrong_file_type(tmp_path, shape_bytes, model_dir):
    path = tmp_path / "long.bin"
    path.write_bytes(shape_bytes + b"\0" * 8)
    with pytest.raises(ModelFormatError, match="unexpected bytes"):
        _core.load_morphable_model(str(path))
    with pytest.raises(ModelFormatError, match="version"):  # a blendshapes file is not a model
        _core.load_morphable_model(str(model_dir / "expression_blendshapes_3448.bin"))


def _copy_model(src, dst):
    dst.mkdir()
    for f in faceflt.model.MODEL_FILES:
        shutil.copy(src / f.name, dst / f.name)
    return dst


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("expression_blendshapes_3448.bin", lambda b: b[:1000], r"expression_blendshapes_3448\.bin.*blendshapes\[0\]"),
        ("sfm_model_contours.json", lambda b: b[:-3], r"sfm_model_contours\.json: not valid JSON"),
        ("sfm_model_contours.json", lambda b: b.replace(b"380", b"0x17c"), r"sfm_model_contours\.json: not valid JSON"),
        ("sfm_model_contours.json", lambda b: b.replace(b"380", b"1e-400"), r"right_contour\[0\] must be a whole number"),
        ("sfm_model_contours.json", lambda b: b.replace(b"380", b"NaN"), "holds NaN"),
        ("sfm_model_contours.json", lambda b: b[: b.index(b"[", b.index(b"right_contour")) + 1] + b"]" +
         b[b.index(b"]", b.index(b"right_contour")) + 1 :], "right_contour' must be a non-empty list"),
        ("sfm_model_contours.json", lambda b: b.replace(b"right_contour", b"rite"), "right_contour"),
        ("sfm_model_contours.json", lambda b: b.replace(b"380", b"99999"), "vertex 99999"),
        ("sfm_3448_edge_topology.json", lambda b: b.replace(b'"value0": 193,', b'"value0": 99999,', 1), "triangle 99999"),
        ("ibug_to_sfm.txt", lambda b: b.replace(b"33  # chin", b"x3  # chin"), r"ibug_to_sfm\.txt: not a valid TOML"),
        ("ibug_to_sfm.txt", lambda b: b.replace(b"# chin", b"# ch\xffin"), r"ibug_to_sfm\.txt: line \d+: not UTF-8 text \(byte 0xff\)"),
        ("ibug_to_sfm.txt", lambda b: b[: len(b) // 2], r"ibug_to_sfm\.txt: "),
        ("ibug_to_sfm.txt", lambda b: b.replace(b"\n31 =", b"\n# 31 ="), "landmarks 31 are neither mapped to a vertex nor on a contour"),
        ("ibug_to_sfm.txt", lambda b: b.replace(b" 9 =    33", b" 9 = 9999"), "landmark 9 refers to vertex 9999"),
        ("ibug_to_sfm.txt", lambda b: b.replace(b"[landmark_mappings]", b"[other]"), "landmark_mappings"),
    ],
)
def test_bad_companion_files(tmp_path, model_dir, name, content, match):
    d = _copy_model(model_dir, tmp_path / "m")
    (d / name).write_bytes(content((d / name).read_bytes()))
    with pytest.raises(ModelFormatError, match=match):
        faceflt.load_model(d)


def test_model_lookup_order(tmp_path, model_dir, monkeypatch):
    monkeypatch.setenv("FACEFLT_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert faceflt.find_model_dir() == model_dir
    with pytest.raises(ModelNotFoundError, match="faceflt model download"):
        faceflt.find_model_dir(tmp_path)  # an explicit folder wins over the environment
    monkeypatch.delenv("FACEFLT_MODEL_DIR")
    with pytest.raises(ModelNotFoundError, match=r"user cache .*cache/faceflt/sfm"):
        faceflt.load_model()
    (tmp_path / "cache" / "faceflt").mkdir(parents=True)
    _copy_model(model_dir, tmp_path / "cache" / "faceflt" / "sfm")
    assert faceflt.load_model().num_vertices == 3448
