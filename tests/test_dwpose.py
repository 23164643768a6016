"""The DWPose detector's loading, pre- and post-processing, and the download of its weights, on small ONNX models
built here with DWPose's input and output signatures (no real weights, no network)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from faceflt.cli import main  # noqa: E402
from faceflt.downloads import DWPOSE_FILES, download_dwpose  # noqa: E402
from faceflt.errors import DownloadError  # noqa: E402
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


def test_missing_weights_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="run `faceflt model download dwpose`"):
        make_detector("dwpose", detector_model=str(tmp_path / "yolox_l.onnx"), pose_model="")
    with pytest.raises(FileNotFoundError, match=r"detector_model \(yolox_l.onnx\) not found at .*cache/faceflt/dwpose/yolox_l.onnx"):
        make_detector("dwpose")


# ---- `faceflt model download dwpose`, offline: a local mirror, and a local server that answers like the hub


def _mirror(folder, models, sums=True):
    import hashlib
    import shutil

    folder.mkdir()
    for source, name in zip(models, DWPOSE_FILES):
        shutil.copy(source, folder / name)
    if sums:
        (folder / "SHA256SUMS").write_text("".join(f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}\n"
                                                    for n in DWPOSE_FILES))
    return folder


def test_download_from_a_mirror_then_detect_without_options(tmp_path, monkeypatch, models, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    mirror = _mirror(tmp_path / "mirror", models)
    assert main(["model", "download", "dwpose", "--url", str(mirror)]) == 0
    assert "--detector dwpose finds them" in capsys.readouterr().out
    cached = tmp_path / "cache" / "faceflt" / "dwpose"
    assert sorted(p.name for p in cached.iterdir()) == sorted([*DWPOSE_FILES, "SHA256SUMS"])
    assert all((p.stat().st_mode & 0o777) == 0o644 for p in cached.iterdir())
    image = np.zeros((480, 640, 3), np.uint8)
    image[228:231, 319:322] = 255
    found = make_detector("dwpose").detect([image])
    np.testing.assert_allclose(found.landmarks[0], np.tile([320.0, 229.0], (68, 1)), atol=1.5)
    # a second run needs no network: the files are checked against the sums recorded beside them
    import shutil

    shutil.rmtree(mirror)
    assert main(["model", "download", "dwpose", "--url", str(mirror)]) == 0
    # ... but a damaged file is fetched again, and here that fails with one line, keeping what was there
    (cached / DWPOSE_FILES[1]).write_bytes(b"damaged")
    before = {p.name: p.read_bytes() for p in cached.iterdir()}
    assert main(["model", "download", "dwpose", "--url", str(mirror)]) == 1
    err = capsys.readouterr().err
    assert "no such folder" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in cached.iterdir()} == before


def test_a_folder_with_other_sums_still_gets_the_files(tmp_path, models):
    """A --dest that already holds a SHA256SUMS of other files: DWPose's files are downloaded all the same, and the
    other sums are kept."""
    mirror = _mirror(tmp_path / "mirror", models)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "a.txt").write_text("a")
    (dest / "SHA256SUMS").write_text("ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb  a.txt\n")
    download_dwpose(dest, base_url=str(mirror), progress=None)
    assert all((dest / n).is_file() for n in DWPOSE_FILES)
    assert "a.txt" in (dest / "SHA256SUMS").read_text() and all(n in (dest / "SHA256SUMS").read_text() for n in DWPOSE_FILES)


@pytest.mark.parametrize("damage, match", [
    ("sums", "publishes no sha256 for yolox_l.onnx, dw-ll_ucoco_384.onnx: a mirror needs a SHA256SUMS file"),
    ("file", "dw-ll_ucoco_384.onnx: sha256 .* does not match the expected"),
])
def test_a_mirror_without_sums_or_with_other_files_is_refused(tmp_path, models, damage, match):
    mirror = _mirror(tmp_path / "mirror", models, sums=damage != "sums")
    if damage == "file":
        (mirror / DWPOSE_FILES[1]).write_bytes(b"not DWPose")
    with pytest.raises(DownloadError, match=match):
        download_dwpose(tmp_path / "dest", base_url=str(mirror), progress=None)
    assert not (tmp_path / "dest").exists()  # all or nothing: the good file is not installed without the other


@pytest.fixture()
def hub(models):
    """A local server answering like the Hugging Face hub: no SHA256SUMS, each file's resolve URL redirects to the
    storage with the file's sha256 in X-Linked-Etag. ``control`` breaks it: a wrong etag, a missing file, a
    transfer cut short."""
    import hashlib
    import http.server
    import threading

    blobs = {name: Path(path).read_bytes() for path, name in zip(models, DWPOSE_FILES)}
    control = {"etags": {name: hashlib.sha256(data).hexdigest() for name, data in blobs.items()}, "missing": set(),
               "short": set(), "blobs": blobs}

    class Hub(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, body: bool):
            name = self.path.rsplit("/", 1)[-1]
            if name not in blobs or name in control["missing"]:
                self.send_error(404)
            elif self.path.startswith("/yzd-v/DWPose/resolve/main/"):
                self.send_response(302)
                self.send_header("Location", f"/storage/{name}")
                self.send_header("X-Linked-Etag", f'"{control["etags"][name]}"')
                self.end_headers()
            else:
                self.send_response(200)
                self.send_header("Content-Length", str(len(blobs[name])))
                self.end_headers()
                if body:
                    data = blobs[name][: len(blobs[name]) // 2] if name in control["short"] else blobs[name]
                    self.wfile.write(data)
                    self.close_connection = True

        def do_HEAD(self):
            self._answer(False)

        def do_GET(self):
            self._answer(True)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/yzd-v/DWPose/resolve/main/", control
    server.shutdown()
    server.server_close()


def test_download_checks_the_hubs_published_sha256(tmp_path, hub):
    import hashlib

    url, control = hub
    dest = download_dwpose(tmp_path / "dest", base_url=url, progress=None)
    assert all(hashlib.sha256((dest / n).read_bytes()).hexdigest() == control["etags"][n] for n in DWPOSE_FILES)


@pytest.mark.parametrize("damage, match", [
    ("etag", "yolox_l.onnx: sha256 .* does not match the expected 0000"),  # the hub says one thing, storage serves another
    ("missing", "dw-ll_ucoco_384.onnx: HTTP 404 .*; check --url"),
    ("short", "could not download .*dw-ll_ucoco_384.onnx .*--url"),  # the connection closes half-way
])
def test_a_failed_download_says_why_in_one_line_and_installs_nothing(tmp_path, hub, capsys, damage, match):
    url, control = hub
    if damage == "etag":
        control["etags"][DWPOSE_FILES[0]] = "0" * 64
    elif damage == "missing":
        control["missing"].add(DWPOSE_FILES[1])
    else:
        control["short"].add(DWPOSE_FILES[1])
    with pytest.raises(DownloadError, match=match):
        download_dwpose(tmp_path / "dest", base_url=url, progress=None)
    assert not (tmp_path / "dest").exists()
    assert main(["model", "download", "dwpose", "--url", url, "--dest", str(tmp_path / "dest")]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and not (tmp_path / "dest").exists()


def test_a_destination_that_is_a_file_is_refused(tmp_path, models):
    mirror = _mirror(tmp_path / "mirror", models)
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(DownloadError, match="could not create .*file .*choose another --dest"):
        download_dwpose(tmp_path / "file", base_url=str(mirror), progress=None)
    assert (tmp_path / "file").read_text() == "not a folder"
