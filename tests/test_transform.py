"""`faceflt transform` end to end on real data, its modes, gaps, and every kind of bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import faceflt
from faceflt.cli import main
from faceflt.errors import InputError
from faceflt.io import open_frames
from faceflt.smoothing import lowpass, one_euro, smooth

from conftest import IMAGES, SHARED, require

VIDEOS = SHARED / "data" / "videos"


@pytest.fixture(scope="module")
def reference():
    return require(IMAGES / "image_0010.png", "image_0010")


@pytest.fixture(scope="module")
def driving():
    return require(VIDEOS / "liveportrait_d3.mp4", "the driving video liveportrait_d3.mp4")


@pytest.fixture(scope="module")
def run(tmp_path_factory, reference, driving, model_dir):
    out = tmp_path_factory.mktemp("flt") / "out"
    code = main(["transform", "--reference", str(reference), "--driving", str(driving), "--out", str(out),
                 "--max-frames", "45", "--model-dir", str(model_dir), "--quiet"])
    assert code == 0
    return out


def test_contract_outputs(run, model_dir):
    data = np.load(run / "landmarks.npz")
    t = 45
    assert data["landmarks"].shape == (t, 68, 2) and data["landmarks"].dtype == np.float32
    assert data["driving_landmarks"].shape == (t, 68, 2) and data["driving_landmarks"].dtype == np.float32
    assert data["valid"].shape == (t,) and data["valid"].dtype == bool and data["valid"].all()
    assert float(data["fps"]) == pytest.approx(30.0)
    assert np.isfinite(data["landmarks"]).all()
    assert not np.allclose(data["landmarks"], data["driving_landmarks"])  # the face changed


def test_pose_video_and_json_decode(run):
    import av

    with av.open(str(run / "liveportrait_d3_kps.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 45 and frames[0].shape == (512, 512, 3) and frames[0].max() > 200
    files = sorted((run / "openpose").iterdir())
    assert len(files) == 45
    assert {f.stat().st_mode & 0o777 for f in files} == {(run / "landmarks.npz").stat().st_mode & 0o777}  # not mkstemp's 0600
    doc = json.loads(files[0].read_text())
    person = doc["people"][0]
    assert doc["version"] == 1.3 and len(person["face_keypoints_2d"]) == 210
    assert set(person) >= {"pose_keypoints_2d", "face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d"}
    keypoints = np.load(run / "keypoints.npz")
    np.testing.assert_allclose(keypoints["face"], np.load(run / "landmarks.npz")["landmarks"], atol=1e-4)


@pytest.mark.parametrize("mode", ["project", "redetect"])
def test_other_modes(tmp_path, reference, driving, model_dir, mode):
    result = faceflt.transform(reference, driving, tmp_path / mode, model_dir=str(model_dir), max_frames=6, mode=mode,
                               formats=("npz",), progress=False)
    assert result.landmarks.shape == (6, 68, 2) and result.valid.all()
    # every mode moves the same face the same way: within a few pixels of the default mode on the inner face
    default = faceflt.transform(reference, driving, tmp_path / "default", model_dir=str(model_dir), max_frames=6,
                                formats=(), progress=False)
    assert np.nanmedian(np.linalg.norm(result.landmarks[:, 17:] - default.landmarks[:, 17:], axis=-1)) < 12


def test_single_image_driving(tmp_path, reference, model_dir):
    driving = require(IMAGES / "moore_talkinghead_3.png", "moore_talkinghead_3.png")
    out = tmp_path / "one"
    assert main(["transform", "--reference", str(reference), "--driving", str(driving), "--out", str(out),
                 "--model-dir", str(model_dir), "--format", "dwpose,openpose", "--quiet"]) == 0
    data = np.load(out / "landmarks.npz")
    assert data["landmarks"].shape == (1, 68, 2) and data["valid"].all()
    assert (out / "dwpose" / "000000.png").is_file() and (out / "openpose" / "000000000000_keypoints.json").is_file()


def test_gaps_are_interpolated_or_flagged(tmp_path, reference, driving, model_dir):
    """A folder of frames with a 3-frame gap (interpolated) and a 12-frame gap (left empty): every frame has a row."""
    import av
    import cv2

    frames = tmp_path / "frames"
    frames.mkdir()
    with av.open(str(driving)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == 30:
                break
            image = f.to_ndarray(format="bgr24")
            if 5 <= i < 8 or 14 <= i < 26:
                image[:] = 0  # no face
            cv2.imwrite(str(frames / f"{i:04d}.png"), image)
    result = faceflt.transform(reference, frames, tmp_path / "out", model_dir=str(model_dir), formats=("openpose",),
                               max_gap=8, progress=False)
    assert result.landmarks.shape[0] == 30
    assert result.interpolated[5:8].all() and result.valid[5:8].all() and np.isfinite(result.landmarks[5:8]).all()
    assert not result.valid[14:26].any() and np.isnan(result.landmarks[14:26]).all()
    assert result.valid[:5].all() and result.valid[26:].all()
    doc = json.loads((tmp_path / "out" / "openpose" / f"{20:012d}_keypoints.json").read_text())
    assert doc["people"] == []  # nothing of the person seen there: nobody listed, as OpenPose writes it
    assert doc["faceflt"] == {"face": "missing"}
    doc = json.loads((tmp_path / "out" / "openpose" / f"{6:012d}_keypoints.json").read_text())
    assert doc["faceflt"] == {"face": "interpolated"} and any(doc["people"][0]["face_keypoints_2d"])


def test_example_plugin_through_the_pipeline(tmp_path, reference, driving, model_dir):
    if not __import__("importlib").util.find_spec("faceflt_example"):
        if os.environ.get("FACEFLT_REQUIRE_DATA") == "1":
            pytest.fail("the example plugin is not installed")
        pytest.skip("the example plugin is not installed")
    result = faceflt.transform(reference, driving, tmp_path / "ex", model_dir=str(model_dir), max_frames=5,
                               detector="five-point", formats=("npz",), progress=False)
    assert result.valid.all()


def test_whole_body_passes_through(tmp_path, reference, driving, model_dir):
    """Body and hands from a whole-body detector come out unchanged; only the face is replaced."""
    import av

    from faceflt.plugins import make_writer
    from faceflt.plugins.builtin.openpose_json import read_openpose

    # Keypoints "already extracted" for 8 frames: dlib's face plus a made-up body and hands.
    det = faceflt.plugins.make_detector("dlib")
    rng = np.random.default_rng(0)
    keypoints = tmp_path / "kp.npz"
    writer = make_writer("npz", keypoints)
    bodies = []
    with av.open(str(driving)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == 8:
                break
            found = det.detect([f.to_ndarray(format="rgb24")])
            body = rng.uniform(20, 490, (18, 2)).astype(np.float32)
            bodies.append(body)
            writer.write(faceflt.plugins.PoseFrame(index=i, image_size=(512, 512), face=found.landmarks[0],
                                                   face_scores=found.confidences[0], body=body,
                                                   body_scores=np.full(18, 0.9, np.float32),
                                                   hands=rng.uniform(20, 490, (2, 21, 2)).astype(np.float32),
                                                   hand_scores=np.full((2, 21), 0.8, np.float32)))
    writer.close()
    # the driving frames come from the file; the reference picture is detected with dlib (a detector that replays
    # keypoints does not look at pictures)
    opts = dict(model_dir=str(model_dir), max_frames=8, formats=("openpose",), progress=False)
    result = faceflt.Pipeline(faceflt.TransformOptions(detector="keypoints", detector_options={"path": str(keypoints)},
                                                       **opts)).run([reference], driving, tmp_path / "out")
    for i in range(8):
        doc = json.loads((tmp_path / "out" / "openpose" / f"{i:012d}_keypoints.json").read_text())
        frame = read_openpose(doc, image_size=(512, 512))
        np.testing.assert_allclose(frame.body, bodies[i], atol=1e-3)
        np.testing.assert_allclose(frame.face, result.landmarks[i], atol=1e-3)

    # With --retarget-body and a reference whose limbs are 1.5x the driver's (its keypoints given in a file for the
    # reference detector): limbs grow, the face follows the nose.
    big = bodies[0] + 0.5 * (bodies[0] - bodies[0][1])
    from faceflt.io import read_image

    image = read_image(reference)
    found = det.detect([image])
    reference_keypoints = tmp_path / "reference.npz"
    writer = make_writer("npz", reference_keypoints)
    writer.write(faceflt.plugins.PoseFrame(index=0, image_size=(image.shape[1], image.shape[0]), face=found.landmarks[0],
                                           face_scores=found.confidences[0], body=big, body_scores=np.ones(18, np.float32)))
    writer.close()
    moved = faceflt.Pipeline(faceflt.TransformOptions(
        detector="keypoints", detector_options={"path": str(keypoints)}, reference_detector="keypoints",
        reference_detector_options={"path": str(reference_keypoints)}, retarget_body=True, **opts)).run(
            [reference], driving, tmp_path / "retargeted")
    doc = json.loads((tmp_path / "retargeted" / "openpose" / f"{0:012d}_keypoints.json").read_text())
    frame = read_openpose(doc, image_size=(512, 512))
    for parent, child in ((1, 2), (2, 3), (1, 0)):
        ratio = np.linalg.norm(frame.body[child] - frame.body[parent]) / np.linalg.norm(bodies[0][child] - bodies[0][parent])
        lengths = [np.linalg.norm(b[child] - b[parent]) for b in bodies]
        assert ratio == pytest.approx(1.5 * np.linalg.norm(bodies[0][child] - bodies[0][parent]) / np.median(lengths), rel=1e-3)
    np.testing.assert_allclose(moved.landmarks[0] - result.landmarks[0], np.broadcast_to(frame.body[0] - bodies[0][0], (68, 2)), atol=1e-2)


def test_nan_landmarks_from_a_plugin(tmp_path, reference, driving, model_dir):
    """A detector plugin that gives NaN (a whole frame, or some points) does not stop the job: the frame
    is interpolated or fitted from the points that remain."""
    import av

    from faceflt.plugins import PoseFrame, make_detector, make_writer

    det = make_detector("dlib")
    keypoints = tmp_path / "kp.npz"
    writer = make_writer("npz", keypoints)
    with av.open(str(driving)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == 8:
                break
            face = det.detect([f.to_ndarray(format="rgb24")]).landmarks[0].copy()
            if i == 2:
                face[:] = np.nan
            if i == 3:
                face[:40] = np.nan
            writer.write(PoseFrame(index=i, image_size=(512, 512), face=face, face_scores=np.ones(68, np.float32)))
    writer.close()
    result = faceflt.transform(reference, driving, tmp_path / "out", model_dir=str(model_dir), max_frames=8, formats=(),
                               detector="keypoints", detector_options={"path": str(keypoints)}, progress=False)
    assert result.valid.all() and result.interpolated[2] and not result.interpolated[3]
    assert np.isfinite(result.landmarks).all()


def test_retarget_needs_a_body(tmp_path, capsys, reference, driving, model_dir):
    code = main(["transform", "--reference", str(reference), "--driving", str(driving), "--out", str(tmp_path / "o"),
                 "--model-dir", str(model_dir), "--retarget-body", "--detector", "dlib", "--quiet"])
    assert code == 1 and "--retarget-body needs the reference's body" in capsys.readouterr().err


# ---- bad input: one clear message, exit code 1, nothing left behind


def _fails(capsys, argv, match, out: Path | None = None):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 1, err
    assert match in err, err
    if out is not None:
        assert not out.exists() and not list(out.parent.glob(f".{out.name}.partial*"))


def test_bad_inputs(tmp_path, capsys, reference, driving, model_dir):
    base = ["--model-dir", str(model_dir), "--quiet"]
    out = tmp_path / "out"
    _fails(capsys, ["transform", "--reference", str(tmp_path / "nope.jpg"), "--driving", str(driving), "--out", str(out), *base],
           "nope.jpg: no such file", out)
    blank = tmp_path / "blank.png"
    import cv2

    cv2.imwrite(str(blank), np.zeros((200, 200, 3), np.uint8))
    _fails(capsys, ["transform", "--reference", str(blank), "--driving", str(driving), "--out", str(out), *base],
           "no face found in the reference picture", out)
    image = cv2.imread(str(reference))
    two = tmp_path / "two.png"
    cv2.imwrite(str(two), np.concatenate([image, image], 1))
    _fails(capsys, ["transform", "--reference", str(two), "--driving", str(driving), "--out", str(out), *base],
           "2 faces in the reference picture", out)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(require(IMAGES / "hallo_6.jpg", "hallo_6.jpg").read_bytes()[:30000])
    _fails(capsys, ["transform", "--reference", str(truncated), "--driving", str(driving), "--out", str(out), *base],
           "truncated.jpg: the image file is damaged (truncated)", out)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(driving.read_bytes()[:5000])
    _fails(capsys, ["transform", "--reference", str(reference), "--driving", str(broken), "--out", str(out), *base],
           "broken.mp4: not a readable video", out)
    _fails(capsys, ["transform", "--reference", str(reference), "--driving", str(broken), "--out", str(out), *base],
           "it may be incomplete: use a complete copy, or re-encode it", out)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    _fails(capsys, ["transform", "--reference", str(reference), "--driving", str(empty), "--out", str(out), *base],
           "empty.mp4: the file is empty", out)
    _fails(capsys, ["transform", "--reference", str(reference), "--driving", str(tmp_path / "none.mp4"), "--out", str(out), *base],
           "none.mp4: no such file", out)
    out.mkdir()
    _fails(capsys, ["transform", "--reference", str(reference), "--driving", str(driving), "--out", str(out), *base],
           "the output folder exists; choose another --out or pass --overwrite")
    _fails(capsys, ["transform", "--reference", str(reference), "--driving", str(driving), "--out", str(tmp_path / "o2"),
                    "--detector", "nope", *base], "unknown detector 'nope'; available:")
    with pytest.raises(SystemExit) as e:
        main(["transform", "--reference", str(reference)])
    assert e.value.code == 2


def test_a_video_that_stops_decoding_is_named_once(tmp_path, capsys, monkeypatch, reference, driving, model_dir):
    """An FFmpeg error partway (decoded in the read-ahead thread) reaches the user as one line naming the file once,
    and nothing is written."""
    import faceflt.io.frames as frames
    from faceflt.errors import InputError

    def failing(source):
        yield 0, np.zeros((source.height, source.width, 3), np.uint8)
        raise InputError(f"{source.path}: the video could not be decoded (Invalid data); is it corrupt or truncated?")

    monkeypatch.setattr(frames, "_decode", failing)
    out = tmp_path / "out"
    _fails(capsys, ["transform", "--reference", str(reference), "--driving", str(driving), "--out", str(out),
                    "--model-dir", str(model_dir), "--quiet"], f"faceflt: error: {driving}: the video could not be decoded", out)


@pytest.mark.parametrize("extra, match", [
    (["--format", "dwpose,bogus"], "unknown output format 'bogus'; available:"),
    (["--detector", "dlib", "--detector-option", "upsample=-1"], "dlib option upsample must be a whole number from 0 to 4, got -1"),
    (["--smoothing", "nan"], "--smoothing must be a finite number from 0 to 100, got nan"),
    (["--smoothing", "-1"], "--smoothing must be a finite number from 0 to 100"),
    (["--smoothing", "1e308"], "--smoothing must be a finite number from 0 to 100, got 1e+308"),
    (["--max-gap", "-3"], "--max-gap must be a whole number >= 0, got -3"),
    (["--max-frames", "-5"], "--max-frames must be a whole number >= 1, got -5"),
    (["--detector-option", "workers=0"], "workers must be a whole number from 1 to 16, got 0"),
    (["--detector-option", "workers"], "--detector-option expects KEY=VALUE, got 'workers'"),
    (["--reference-detector-option", "foo"], "--reference-detector-option expects KEY=VALUE, got 'foo'"),
    (["--reference-detector-option", "x=1"], "'holistic' has no option x"),  # the default reference detector's options
    (["--fps", "1e308"], "--fps must be a finite number from 0.001 to 1000, got 1e+308"),
    (["--draw-resolution", "-5"], "--draw-resolution must be a whole number from 0 to 8192, got -5"),
    (["--format", "dwpose,dwpose"], "--format lists dwpose more than once"),
])
def test_bad_options_are_refused_before_any_work(tmp_path, capsys, monkeypatch, reference, driving, model_dir, extra, match):
    """Each is one line, no traceback, and comes before the reference or a frame is read."""
    import faceflt.pipeline

    monkeypatch.setattr(faceflt.pipeline, "read_image", lambda *a: pytest.fail("work started before the options were checked"))
    out = tmp_path / "out"
    _fails(capsys, ["transform", "--reference", str(reference), "--driving", str(driving), "--out", str(out),
                    "--model-dir", str(model_dir), "--quiet", *extra], match, out)


def test_corrupt_packets_cost_their_frames_only(tmp_path, reference, model_dir):
    """Garbage written over three places of a real video: every decodable frame is kept, the lost ones have
    rows without a face, and the summary counts them."""
    driving = require(VIDEOS / "tpsmm_driving.mp4", "tpsmm_driving.mp4")
    data = bytearray(driving.read_bytes())
    rng = np.random.default_rng(0)
    for offset in (len(data) // 3, len(data) // 2, 2 * len(data) // 3):
        data[offset : offset + 2000] = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(data)
    from faceflt.io import open_frames

    source = open_frames(corrupt)
    indices = [i for i, _ in source]
    assert source.lost >= 1 and len(indices) + source.lost == source.frame_count == 169
    assert indices == sorted(set(indices))
    result = faceflt.transform(reference, corrupt, tmp_path / "out", model_dir=str(model_dir), formats=("npz",),
                               progress=False)
    assert len(result.landmarks) == 169
    lost = sorted(set(range(169)) - set(indices))
    assert np.isnan(result.driving_landmarks[lost]).all()
    assert f"{source.lost} frames could not be decoded (corrupt)" in result.summary
    assert "truncated" not in result.summary


def test_a_truncated_video_is_kept_with_a_warning(tmp_path, reference, driving, model_dir):
    """A video cut short (its index at the front, as streaming files have it): the frames that are there
    are used, and the summary warns."""
    import av

    whole = tmp_path / "whole.mp4"
    with av.open(str(driving)) as src, av.open(str(whole), "w", options={"movflags": "faststart"}) as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for i, packet in enumerate(src.demux(src.streams.video[0])):
            if packet.dts is not None and i < 90:
                packet.stream = stream
                dst.mux(packet)
    truncated = tmp_path / "truncated.mp4"
    data = whole.read_bytes()
    truncated.write_bytes(data[: len(data) * 2 // 3])
    result = faceflt.transform(reference, truncated, tmp_path / "out", model_dir=str(model_dir), formats=("npz",),
                               progress=False)
    assert 30 < len(result.landmarks) < 90 and result.valid.sum() > 30
    assert "the file may be truncated" in result.summary


def test_a_truncated_matroska_video_is_noticed_by_its_duration(tmp_path, reference, driving, model_dir):
    """Matroska and WebM declare no frame count: the duration stands in (to a frame), so a .mkv cut short warns as
    an .mp4 does, and a whole one does not."""
    import av

    whole = tmp_path / "whole.mkv"
    with av.open(str(driving)) as src, av.open(str(whole), "w") as dst:
        stream = dst.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 256, 256, "yuv420p"
        for i, frame in enumerate(src.decode(video=0)):
            if i == 40:
                break
            image = frame.to_ndarray(format="rgb24")[::2, ::2]
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    source = open_frames(whole)
    assert source.frame_count == 40 and not source.counted
    kept = faceflt.transform(reference, whole, tmp_path / "whole_out", model_dir=str(model_dir), formats=("npz",), progress=False)
    assert len(kept.landmarks) == 40 and "may be truncated" not in kept.summary
    truncated = tmp_path / "truncated.mkv"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size * 3 // 5])
    result = faceflt.transform(reference, truncated, tmp_path / "out", model_dir=str(model_dir), formats=("npz",), progress=False)
    assert 10 < len(result.landmarks) < 35
    assert "frames before the 40 its container implies by its duration; the file may be truncated" in result.summary


def test_an_output_under_a_file_is_refused_before_any_work(tmp_path, capsys, monkeypatch, reference, driving, model_dir):
    import faceflt.pipeline

    monkeypatch.setattr(faceflt.pipeline, "read_image", lambda *a: pytest.fail("work started before the output was checked"))
    (tmp_path / "f.txt").write_text("a file")
    _fails(capsys, ["transform", "--reference", str(reference), "--driving", str(driving), "--out", str(tmp_path / "f.txt" / "out"),
                    "--model-dir", str(model_dir), "--quiet"], "f.txt is a file, not a folder; choose another --out")
    # an unwritable folder (the tests may run as root, who can write anywhere: the refusal is simulated)
    locked = tmp_path / "locked"
    locked.mkdir()
    import faceflt.outputs

    real_mkdtemp = faceflt.outputs.tempfile.mkdtemp

    def mkdtemp(prefix, dir):
        if Path(dir) == locked:
            raise PermissionError(13, "Permission denied")
        return real_mkdtemp(prefix=prefix, dir=dir)

    monkeypatch.setattr(faceflt.outputs.tempfile, "mkdtemp", mkdtemp)
    _fails(capsys, ["transform", "--reference", str(reference), "--driving", str(driving), "--out", str(locked / "out"),
                    "--model-dir", str(model_dir), "--quiet"], "cannot write in " + str(locked) + " (Permission denied)")


def test_overwrite_replaces_only_a_faceflt_output(tmp_path, capsys, monkeypatch, reference, driving, model_dir):
    """--overwrite never empties the current folder, a folder that is not a faceflt output, or one holding an input;
    an --out naming a file fails at once, with or without it. All before any work."""
    import faceflt.pipeline

    monkeypatch.setattr(faceflt.pipeline, "read_image", lambda *a: pytest.fail("work started before the output was checked"))
    base = ["--reference", str(reference), "--driving", str(driving), "--model-dir", str(model_dir), "--quiet", "--overwrite"]
    here = tmp_path / "here"
    here.mkdir()
    (here / "sentinel.txt").write_text("kept")
    monkeypatch.chdir(here)
    for out in (".", str(tmp_path)):
        _fails(capsys, ["transform", *base, "--out", out], "--overwrite would replace the current folder")
    _fails(capsys, ["transform", *base, "--out", ""], "--out is empty; name the output folder")
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "chapter.txt").write_text("kept")
    _fails(capsys, ["transform", *base, "--out", str(thesis)], "is not a faceflt output (it has no faceflt landmarks.npz)")
    (thesis / "landmarks.npz").write_bytes(b"another tool's")
    _fails(capsys, ["transform", *base, "--out", str(thesis)], "is not a faceflt output")
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    picture = inputs / "ref.jpg"
    picture.write_bytes(reference.read_bytes())
    _fails(capsys, ["transform", *base[2:], "--reference", str(picture), "--out", str(inputs)], "would delete an input")
    _fails(capsys, ["transform", *base[:2], "--driving", str(inputs), *base[4:], "--out", str(inputs)], "would delete an input")
    _fails(capsys, ["transform", *base, "--detector", "keypoints", "--detector-option", f"path={inputs / 'k.json'}",
                    "--out", str(inputs)], "would delete an input")  # an option's file: the help's keypoints example
    (tmp_path / "link").symlink_to(thesis)
    _fails(capsys, ["transform", *base, "--out", str(tmp_path / "link")], "a symbolic link")
    (tmp_path / "f.jpg").write_bytes(b"")
    _fails(capsys, ["transform", *base, "--out", str(tmp_path / "f.jpg")], "a file of that name exists")
    _fails(capsys, ["transform", *base[:-1], "--out", str(tmp_path / "f.jpg")], "a file of that name exists")
    assert (here / "sentinel.txt").read_text() == "kept" and (thesis / "chapter.txt").read_text() == "kept"
    assert picture.is_file()


def test_overwrite_replaces_an_empty_folder_and_a_previous_output(tmp_path, capsys, reference, driving, model_dir):
    out = tmp_path / "out"
    out.mkdir()
    argv = ["transform", "--reference", str(reference), "--driving", str(driving), "--out", str(out), "--model-dir",
            str(model_dir), "--quiet", "--overwrite", "--max-frames", "3", "--format", "npz"]
    assert main(argv) == 0
    first = np.load(out / "landmarks.npz")["landmarks"]
    (out / "stale.txt").write_text("from before")
    assert main([*argv[:-4], "--max-frames", "2", "--format", "npz"]) == 0
    assert np.load(out / "landmarks.npz")["landmarks"].shape == (2, 68, 2) and first.shape == (3, 68, 2)
    assert not (out / "stale.txt").exists() and not list(tmp_path.glob(".out.*"))
    capsys.readouterr()


def test_a_folder_made_while_the_job_runs_is_not_replaced(tmp_path, monkeypatch, reference, driving, model_dir):
    """--out was free when the job started, and someone (another job) made it meanwhile: the finished output is not put
    in its place, the folder keeps what it holds, and nothing half-made is left; with --overwrite the same rules hold
    at the end as at the start."""
    import faceflt.pipeline

    out = tmp_path / "out"
    real = faceflt.pipeline.write_formats

    def meanwhile(*args, **kwargs):
        out.mkdir(exist_ok=True)
        (out / "notes.txt").write_text("kept")
        return real(*args, **kwargs)

    monkeypatch.setattr(faceflt.pipeline, "write_formats", meanwhile)
    for overwrite, match in ((False, "the output folder exists"), (True, "is not a faceflt output")):
        with pytest.raises(InputError, match=match):
            faceflt.transform(reference, driving, out, model_dir=str(model_dir), max_frames=2, formats=("npz",),
                              progress=False, overwrite=overwrite)
        assert [p.name for p in out.iterdir()] == ["notes.txt"] and not list(tmp_path.glob(".out.*"))


def test_the_api_says_what_a_path_should_be(tmp_path, reference, driving, model_dir):
    options = faceflt.TransformOptions(model_dir=str(model_dir), formats=("npz",), progress=False)
    for references in ([[reference]], np.zeros((4, 4, 3), np.uint8), 5, str(reference).encode(), ""):
        with pytest.raises(TypeError, match="references must be a picture's path or a list of them"):
            faceflt.transform(references, driving, tmp_path / "o", options)
    with pytest.raises(TypeError, match="driving must be a video's"):
        faceflt.transform(reference, [driving], tmp_path / "o", options)
    with pytest.raises(TypeError, match="out must be a folder's path"):
        faceflt.transform(reference, driving, None, options)
    # one path, as a str or a Path, is one picture (not a list of its characters)
    with pytest.raises(InputError, match="nope.jpg: no such file"):
        faceflt.Pipeline(options).run(str(tmp_path / "nope.jpg"), driving, tmp_path / "o")
    with pytest.raises(InputError, match="nope.jpg: no such file"):
        faceflt.Pipeline(options).run(tmp_path / "nope.jpg", driving, tmp_path / "o")
    assert not list(tmp_path.iterdir())


def test_an_output_where_nothing_can_be_made_is_refused_before_any_work(tmp_path, capsys, monkeypatch, reference, driving,
                                                                         model_dir):
    """Where permissions do not tell (root may "write" to /proc): a folder is tried, and the error names the user's path."""
    import faceflt.pipeline

    monkeypatch.setattr(faceflt.pipeline, "read_image", lambda *a: pytest.fail("work started before the output was checked"))
    if not Path("/proc/self").is_dir():
        pytest.skip("needs /proc")
    _fails(capsys, ["transform", "--reference", str(reference), "--driving", str(driving), "--out", "/proc/faceflt-out",
                    "--model-dir", str(model_dir), "--quiet"], "/proc/faceflt-out: cannot write in /proc")


def test_a_detector_option_of_the_wrong_type_is_named(tmp_path, capsys, reference, driving, model_dir):
    _fails(capsys, ["transform", "--reference", str(reference), "--driving", str(driving), "--out", str(tmp_path / "o"),
                    "--detector", "holistic", "--detector-option", "min_detection_confidence=abc", "--model-dir", str(model_dir),
                    "--quiet"], "holistic option min_detection_confidence must be a number, got 'abc'", tmp_path / "o")


def test_format_options_from_the_command_line(tmp_path, capsys, reference, driving, model_dir):
    """--format-option FORMAT.KEY=VALUE reaches the writer, typed by its field; a wrong name, a format not written and
    a field faceflt fills are refused before any work."""
    import json

    base = ["transform", "--reference", str(reference), "--driving", str(driving), "--model-dir", str(model_dir), "--quiet",
            "--max-frames", "3", "--detector", "dlib"]
    out = tmp_path / "o"
    assert main([*base, "--out", str(out), "--format", "openpose", "--format-option", "openpose.variant=controlnet"]) == 0
    document = json.loads(sorted((out / "openpose").iterdir())[0].read_text())
    assert "canvas_width" in document and len(document["people"][0]["face_keypoints_2d"]) == 68 * 3
    for options, match in ((["--format-option", "openpose.varaint=x"], "format 'openpose' has no option varaint; its options are: variant"),
                           (["--format-option", "openpose.variant=controlnett"],
                            "openpose option variant must be one of 'openpose', 'controlnet', got 'controlnett'"),
                           (["--format-option", "openpose.variant"], "--format-option expects FORMAT.KEY=VALUE, got 'openpose.variant'"),
                           (["--format-option", "dwpose.draw_resolution=1"], "options are given for format 'dwpose', which is not among"),
                           (["--format-option", "openpose.fps=3"], "format 'openpose' has no option fps"),
                           (["--format-option", "openpose=3"], "--format-option expects FORMAT.KEY=VALUE, got 'openpose=3'")):
        _fails(capsys, [*base, "--out", str(tmp_path / "bad"), "--format", "openpose", *options], match, tmp_path / "bad")


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["transform", "--help"])
    text = capsys.readouterr().out
    for flag in ("--reference", "--driving", "--out", "--mode", "--detector", "--format", "--model-dir", "--max-frames",
                 "--smoothing", "--no-smoothing", "--max-gap", "--debug-video", "--overwrite"):
        assert flag in text
    assert "default: relative" in text and "default: holistic" in text


# ---- smoothing


def test_smoothing_removes_jitter_without_lag():
    rng = np.random.default_rng(0)
    t = np.arange(120)
    step = (t >= 60).astype(float)  # an expression starts at frame 60
    noisy = step + rng.normal(0, 0.05, t.size)
    smoothed = smooth(noisy[:, None], np.ones(t.size, bool), fps=30.0)[:, 0]
    assert np.std(smoothed[:50] - 0) < 0.5 * np.std(noisy[:50])  # jitter while still
    half = np.argmax(smoothed > 0.5)
    causal = one_euro(noisy[:, None], 30.0)[:, 0]
    assert abs(half - 60) <= 1, half  # the onset stays where it was
    assert np.argmax(causal > 0.5) >= half  # a causal filter would be later
    np.testing.assert_array_equal(smooth(noisy[:, None], np.ones(t.size, bool), 30.0, strength=0)[:, 0], noisy)


def test_lowpass_is_scipys_zero_phase_butterworth():
    """The independent reference: scipy's filtfilt of butter(2), padded the same way, on runs of every
    length from the shortest filtered one (3 frames) up."""
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(1)
    for n in (3, 4, 9, 10, 11, 64, 301):
        x = rng.normal(size=(n, 5)).cumsum(0)
        for fps, cutoff in ((30.0, 10.0), (25.0, 10.0), (30.0, 4.0), (60.0, 10.0)):
            b, a = signal.butter(2, cutoff / (fps / 2))
            expected = signal.filtfilt(b, a, x, axis=0, padlen=min(9, n - 1))
            np.testing.assert_allclose(lowpass(x, np.ones(n, bool), fps, cutoff), expected, atol=1e-9)


def test_lowpass_keeps_a_faces_motion_and_takes_the_noise_out():
    """At 30 fps and 10 Hz: a 3 Hz motion (speech) keeps its amplitude, the detector's white noise loses most
    of its frame-to-frame jitter, a step (an expression's onset) stays where it was, each run of valid
    frames is filtered alone, and where the cutoff is half the frame rate or more (12 fps) nothing changes; just
    under that, almost nothing (no jump as a cutoff crosses it)."""
    rng = np.random.default_rng(0)
    t = np.arange(300) / 30.0
    motion = np.sin(2 * np.pi * 3.0 * t)
    kept = lowpass(motion[:, None], np.ones(t.size, bool), 30.0, 10.0)[:, 0]
    assert 0.98 < np.std(kept[30:-30]) / np.std(motion[30:-30]) <= 1.0
    noise = rng.normal(0, 1.0, t.size)
    second = lambda v: np.abs(np.diff(v, 2)).mean()
    assert second(lowpass(noise[:, None], np.ones(t.size, bool), 30.0, 10.0)[:, 0]) < 0.5 * second(noise)
    step = (np.arange(120) >= 60).astype(float)
    assert np.argmax(lowpass(step[:, None], np.ones(120, bool), 30.0, 10.0)[:, 0] > 0.5) == 60
    valid = np.ones(t.size, bool)
    valid[100] = False
    x = noise.copy()
    x[100] = 1e6  # an invalid row: left as it is, and never mixed into its neighbours
    out = lowpass(x[:, None], valid, 30.0, 10.0)[:, 0]
    assert out[100] == 1e6 and np.abs(out[:100]).max() < 10 and np.abs(out[101:]).max() < 10
    np.testing.assert_array_equal(out[:100], lowpass(x[:100, None], np.ones(100, bool), 30.0, 10.0)[:, 0])
    np.testing.assert_array_equal(lowpass(noise[:, None], np.ones(t.size, bool), 12.0, 10.0)[:, 0], noise)
    np.testing.assert_array_equal(lowpass(noise[:, None], np.ones(t.size, bool), 30.0, 15.0)[:, 0], noise)
    assert np.abs(lowpass(noise[:, None], np.ones(t.size, bool), 30.0, 14.999)[:, 0] - noise).max() < 0.02


def test_odd_width_video_frames_are_contiguous_and_detected(model_dir):
    """tpsmm_driving.mp4 is 410 pixels wide: PyAV's rows are padded there, and dlib misread such views. The IO
    layer hands out contiguous frames, and dlib finds the face in every sampled frame."""
    from faceflt.io import open_frames
    from faceflt.plugins import make_detector

    video = require(VIDEOS / "tpsmm_driving.mp4", "tpsmm_driving.mp4")
    detector = make_detector("dlib")
    frames = [frame for i, frame in open_frames(video) if i % 17 == 0]
    assert frames[0].shape == (412, 410, 3) and all(f.flags.c_contiguous for f in frames)
    assert detector.detect(frames).found.sum() >= 8  # of 10 (a few frames of this clip are hard for any detector)


def test_debug_video_fps_for_frames_and_single_image_summary(tmp_path, reference, driving, model_dir):
    """The debug video has five labelled panels (the last the pose image written), each at most 720 pixels long;
    --fps sets a folder's rate; a single image has no frame rate to report."""
    import av
    import cv2

    result = faceflt.transform(reference, driving, tmp_path / "dbg", model_dir=str(model_dir), max_frames=4, formats=("npz",),
                               debug_video=True, progress=False)
    assert result.outputs[-1].name == "liveportrait_d3_debug.mp4"
    with av.open(str(tmp_path / "dbg" / "liveportrait_d3_debug.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 4 and frames[0].shape == (512, 5 * 512, 3)
    assert frames[0][:, 4 * 512 :].max() > 200  # the pose image panel is drawn
    folder = tmp_path / "frames"
    folder.mkdir()
    with av.open(str(driving)) as c:
        for i, f in zip(range(3), c.decode(video=0)):
            cv2.imwrite(str(folder / f"{i:03d}.png"), f.to_ndarray(format="bgr24"))
    assert faceflt.transform(reference, folder, tmp_path / "f", model_dir=str(model_dir), fps=12.5, formats=("npz",),
                             progress=False).fps == 12.5
    single = faceflt.transform(reference, folder / "000.png", tmp_path / "s", model_dir=str(model_dir), formats=("npz",),
                               progress=False)
    assert "1 driving frames (512x512):" in single.summary
    # frames larger than 720 pixels make panels of 720 on their long side; an odd height (1150 -> 575) is padded
    # with a black row, as the pose video is, not cropped
    large = tmp_path / "large"
    large.mkdir()
    for i in range(2):
        cv2.imwrite(str(large / f"{i:03d}.png"), cv2.resize(cv2.imread(str(folder / f"{i:03d}.png")), (1441, 1150)))
    faceflt.transform(reference, large, tmp_path / "L", model_dir=str(model_dir), formats=("npz",), debug_video=True,
                      progress=False)
    with av.open(str(tmp_path / "L" / "large_debug.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 2 and frames[0].shape == (576, 5 * 720, 3)
    assert frames[0][:, 4 * 720 :].max() > 200
    assert frames[0][-1].mean() < 0.1 * frames[0][-3].mean()  # the padding row


def test_a_folder_of_mixed_sizes_is_brought_to_the_first_frames_size(tmp_path, reference, model_dir):
    """Frames of another size than the first are resized to it, so every frame's points mean the same pixels, and
    the summary says so."""
    import cv2

    import faceflt

    video = require(VIDEOS / "tpsmm_driving.mp4", "tpsmm_driving.mp4")
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in open_frames(video):
        if i >= 12:
            break
        big = cv2.resize(frame, (2 * frame.shape[1], 2 * frame.shape[0])) if i % 2 else frame
        cv2.imwrite(str(folder / f"{i:03d}.png"), big[..., ::-1])
    result = faceflt.transform(reference, folder, tmp_path / "out", model_dir=model_dir, progress=False)
    assert "6 frames of another size than the first were resized to 410x412" in result.summary
    cut = faceflt.transform(reference, folder, tmp_path / "cut", model_dir=model_dir, progress=False, max_frames=3)
    assert "1 frames of another size than the first were resized" in cut.summary  # not the 4th, read past the end
    centre = np.nanmean(result.driving_landmarks, axis=1)
    assert np.nanmax(np.linalg.norm(np.diff(centre, axis=0), axis=-1)) < 20  # no jump between the two sizes


def test_a_tiny_reference_face_is_refused(tmp_path, capsys, driving, model_dir):
    import cv2

    picture = cv2.imread(str(require(IMAGES / "hallo_6.jpg", "hallo_6.jpg")))
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), cv2.resize(picture, (24, 24), interpolation=cv2.INTER_AREA))
    out = tmp_path / "out"
    code = main(["transform", "--reference", str(tiny), "--driving", str(driving), "--out", str(out), "--model-dir",
                 str(model_dir), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "the face in the reference picture is too small (8 px between" in err, err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_the_progress_bar_shows_on_a_terminal_frame_by_frame(tmp_path, reference, driving, model_dir):
    """On a terminal (a pseudo-terminal here, 120 columns), the detection bar counts the frames as the default
    detector finishes them, though it silences MediaPipe's own output on stderr meanwhile; not only at the end."""
    import fcntl
    import re
    import struct
    import subprocess
    import sys
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    argv = [sys.executable, "-m", "faceflt.cli", "transform", "--reference", str(reference), "--driving", str(driving),
            "--out", str(tmp_path / "out"), "--max-frames", "60", "--format", "npz", "--model-dir", str(model_dir)]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the terminal's other end closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    assert proc.wait(60) == 0, shown.decode(errors="replace")
    counts = {int(n) for n in re.findall(rb"detecting[^|]*\|[^|]*\| *(\d+)/60", shown)}
    assert len(counts - {0, 60}) >= 3, shown.decode(errors="replace")


def test_a_plugin_registered_in_python_with_points_it_could_not_place(tmp_path, reference, driving, model_dir):
    """A detector registered with pm.register (no entry point) that leaves three points NaN (an occluded cheek) in
    every picture: the job runs through faceflt.transform(pm=...), the driver's fitted face standing in at those
    points. Detectors that return the wrong thing, and writers that name a target outside the folder or faceflt's
    own file, are refused by name."""
    import dataclasses

    from faceflt.plugins import Detections, DetectorSpec, WriterSpec, get_plugin_manager, hookimpl, make_detector

    @dataclasses.dataclass(frozen=True)
    class Options:
        answer: str = "occluded"

    class Occluded:
        scheme = "ibug68"

        def __init__(self, options):
            self.inner, self.answer = make_detector("dlib"), options.answer

        def detect(self, images, boxes=None):
            found = self.inner.detect(images, boxes)
            if self.answer == "list":
                return [found.landmarks]
            if self.answer == "468":
                return Detections(np.zeros((len(images), 468, 2)), np.ones((len(images), 468)), found.boxes, "mediapipe468")
            if self.answer == "dict":
                return {"landmarks": found.landmarks}
            landmarks, confidences = found.landmarks.copy(), found.confidences.copy()
            landmarks[:, 2:5], confidences[:, 2:5] = np.nan, 0.0
            if self.answer == "eyes":
                landmarks[:, 36] = np.nan
            return dataclasses.replace(found, landmarks=landmarks, confidences=confidences)

    @dataclasses.dataclass(frozen=True)
    class WriterOptions:
        pass

    class DiskFull:
        def __init__(self, path, options):
            self.path = path

        def write(self, frame):
            raise OSError(28, "No space left on device", str(self.path))

        def close(self):
            pass

    class Plugin:
        @hookimpl
        def faceflt_register_detectors(self):
            return [DetectorSpec(name="occluded", scheme="ibug68", options=Options, factory=Occluded)]

        @hookimpl
        def faceflt_register_writers(self):
            return [WriterSpec(name="escape", options=WriterOptions, factory=lambda path, o: None, target=lambda c: "../x.csv"),
                    WriterSpec(name="clash", options=WriterOptions, factory=lambda path, o: None, target=lambda c: "landmarks.npz"),
                    WriterSpec(name="full", options=WriterOptions, factory=DiskFull, target=lambda c: "x.csv")]

    pm = get_plugin_manager(load_entry_points=False)
    pm.register(Plugin())
    common = dict(model_dir=str(model_dir), max_frames=12, formats=("npz",), progress=False, detector="occluded",
                  reference_detector="occluded")
    result = faceflt.transform(reference, driving, tmp_path / "o", pm=pm, **common)
    assert result.valid.all() and np.isfinite(result.landmarks).all()
    for answer, error, match in (("list", TypeError, "detector 'occluded' returned list; detect.. and track.. return"),
                                 ("468", ValueError, "detector 'occluded' gives 'mediapipe468' landmarks; FLT takes the 68"),
                                 ("eyes", ValueError, "the outer eye corners were not found in the reference picture")):
        with pytest.raises(error, match=match):
            faceflt.transform(reference, driving, tmp_path / answer, pm=pm, **common, detector_options={"answer": answer},
                              reference_detector_options={"answer": answer})
        assert not (tmp_path / answer).exists()
    # the driving video's detector alone, checked as the tracker takes its answer (before it reads it)
    for answer, error in (("dict", TypeError), ("468", ValueError)):
        with pytest.raises(error, match="detector 'occluded'"):
            faceflt.transform(reference, driving, tmp_path / answer, pm=pm, **{**common, "reference_detector": "dlib"},
                              detector_options={"answer": answer})
    for name, match in (("escape", "format 'escape' names its output '../x.csv'"),
                        ("clash", "format 'clash' would write 'landmarks.npz', which 'faceflt' writes too")):
        with pytest.raises(ValueError, match=match):
            faceflt.transform(reference, driving, tmp_path / name, pm=pm, **{**common, "formats": (name,)})
        assert not (tmp_path / name).exists() and not (tmp_path / "x.csv").exists()
    # an OSError while writing names the file where it was going, not the temporary folder already removed
    with pytest.raises(OSError, match=r"No space left on device, writing: '.*/full/x\.csv'") as caught:
        faceflt.transform(reference, driving, tmp_path / "full", pm=pm, **{**common, "formats": ("full",)})
    assert ".partial" not in str(caught.value) and not (tmp_path / "full").exists()
