"""The ComfyUI nodes, called as ComfyUI calls them (class attributes, INPUT_TYPES, FUNCTION) on real frames, and
POSE_KEYPOINT read back the way comfyui_controlnet_aux's decode_json_as_poses reads it."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from faceflt.cli import main
from faceflt.comfyui import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, images_to_numpy

from conftest import IMAGES, SHARED, require

VIDEOS = SHARED / "data" / "videos"


def decode_like_controlnet_aux(document: dict) -> dict[str, np.ndarray]:
    """An independent reader with controlnet_aux's rules (decode_json_as_poses, then is_normalized where it draws):
    flat x, y, c triplets; a point is kept only when c >= 1.0; a part whose kept points all lie in [0, 1] is
    normalised and scaled by the canvas, any other part is in pixels. In pixels, as the document gives them."""
    w, h = document["canvas_width"], document["canvas_height"]
    person = document["people"][0]
    out = {}
    for key in ("pose_keypoints_2d", "face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d"):
        values = person.get(key)
        if not values:
            continue
        triplets = np.asarray(values, np.float64).reshape(-1, 3)
        kept = triplets[:, 2] >= 1.0
        normalised = kept.any() and (np.abs(triplets[kept, :2]) <= 1).all()
        points = triplets[:, :2] * ([w, h] if normalised else 1.0)
        points[~kept] = np.nan
        out[key] = points
    return out


def as_the_dwpose_node_writes(documents: list[dict]) -> list[dict]:
    """POSE_KEYPOINT as comfyui_controlnet_aux's DWPose node writes it since 2024: the same triplets in pixels of the
    canvas, and the face's 70 points (the body's two eyes added)."""
    out = []
    for doc in documents:
        w, h = doc["canvas_width"], doc["canvas_height"]
        people = []
        for person in doc["people"]:
            moved = {}
            for key, values in person.items():
                if not values:
                    moved[key] = values
                    continue
                t = np.asarray(values, np.float64).reshape(-1, 3) * [w, h, 1]
                if key == "face_keypoints_2d":
                    body = np.asarray(person["pose_keypoints_2d"], np.float64).reshape(-1, 3) * [w, h, 1]
                    t = np.concatenate([t, body[[14, 15]]])
                moved[key] = t.reshape(-1).tolist()
            people.append(moved)
        out.append({"people": people, "canvas_height": h, "canvas_width": w})
    return out


def call(name: str, **inputs):
    """As ComfyUI runs a node: the class from NODE_CLASS_MAPPINGS, an instance, its FUNCTION with the inputs."""
    cls = NODE_CLASS_MAPPINGS[name]
    declared = cls.INPUT_TYPES()
    assert set(inputs) >= set(declared["required"]) and set(inputs) <= set(declared["required"]) | set(declared.get("optional", {}))
    out = getattr(cls(), cls.FUNCTION)(**inputs)
    assert isinstance(out, tuple) and len(out) == len(cls.RETURN_TYPES)
    return out


@pytest.fixture(scope="module")
def driving(model_dir):
    """20 frames of a real video, and their POSE_KEYPOINT as the DWPose node gives it (here the face from dlib,
    normalised, confidence 1.0 where present)."""
    import av

    from faceflt.plugins import PoseFrame, make_detector
    from faceflt.plugins.builtin.openpose_json import pose_to_openpose

    video = require(VIDEOS / "liveportrait_d3.mp4", "liveportrait_d3.mp4")
    with av.open(str(video)) as c:
        frames = np.stack([f.to_ndarray(format="rgb24") for _, f in zip(range(20), c.decode(video=0))])
    found = make_detector("dlib").detect(list(frames))
    body = np.tile(np.linspace(50, 450, 36, dtype=np.float32).reshape(18, 2), (20, 1, 1))
    docs = [pose_to_openpose(PoseFrame(index=i, image_size=(512, 512), face=found.landmarks[i], face_scores=found.confidences[i],
                                       body=body[i], body_scores=np.ones(18, np.float32)), "controlnet") for i in range(20)]
    return frames, docs, found.landmarks


def test_node_declarations_follow_comfyui():
    assert set(NODE_CLASS_MAPPINGS) == set(NODE_DISPLAY_NAME_MAPPINGS) == {"FLTTransform", "FLTDrawPose"}
    for cls in NODE_CLASS_MAPPINGS.values():
        types = cls.INPUT_TYPES()
        assert "required" in types and all(isinstance(v, tuple) for v in types["required"].values())
        assert isinstance(cls.RETURN_TYPES, tuple) and callable(getattr(cls, cls.FUNCTION)) and cls.CATEGORY == "faceflt"
    assert NODE_CLASS_MAPPINGS["FLTTransform"].RETURN_TYPES == ("POSE_KEYPOINT", "IMAGE")
    for cls in NODE_CLASS_MAPPINGS.values():  # every input and output explained where ComfyUI shows it
        declared = cls.INPUT_TYPES()
        for spec in [*declared["required"].values(), *declared.get("optional", {}).values()]:
            assert len(spec) == 2 and spec[1].get("tooltip"), spec
        assert len(cls.OUTPUT_TOOLTIPS) == len(cls.RETURN_TYPES)
    import json

    json.dumps([cls.INPUT_TYPES() for cls in NODE_CLASS_MAPPINGS.values()])  # /object_info serves them as JSON
    assert NODE_CLASS_MAPPINGS["FLTTransform"].INPUT_TYPES()["required"]["mode"][0] == ["relative", "project", "redetect"]


def test_transform_node_on_pose_keypoint(model_dir, monkeypatch, driving):
    monkeypatch.setenv("FACEFLT_MODEL_DIR", str(model_dir))
    frames, docs, detected = driving
    import cv2

    reference = cv2.cvtColor(cv2.imread(str(require(IMAGES / "hallo_6.jpg", "hallo_6.jpg"))), cv2.COLOR_BGR2RGB)
    pose_keypoint, images = call("FLTTransform", reference=reference[None].astype(np.float32) / 255, mode="relative",
                                 smoothing=1.0, retarget_body=False, fps=30.0, pose_keypoint=docs)
    assert len(pose_keypoint) == 20 and images.shape == (20, 512, 512, 3) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0 and images.max() > 0.5
    decoded = [decode_like_controlnet_aux(d) for d in pose_keypoint]
    faces = np.stack([d["face_keypoints_2d"] for d in decoded])
    assert faces.shape == (20, 68, 2) and np.isfinite(faces).all()
    moved = np.linalg.norm(faces - detected, axis=-1).mean()
    assert 1.0 < moved < 40.0  # the face changed shape, and stayed on the driver's face
    # the body passes through, exactly as given
    np.testing.assert_allclose(decoded[3]["pose_keypoints_2d"], decode_like_controlnet_aux(docs[3])["pose_keypoints_2d"], atol=1e-3)
    # the pose images are the DWPose drawing of the returned POSE_KEYPOINT
    (drawn,) = call("FLTDrawPose", pose_keypoint=pose_keypoint)
    np.testing.assert_array_equal(images, drawn)
    # the DWPose node's own output is in pixels (and its face has 70 points): read as such, the same FLT face comes
    # back, in pixels too, for whatever read the DWPose node's output
    as_dwpose = as_the_dwpose_node_writes(docs)
    assert max(as_dwpose[0]["people"][0]["face_keypoints_2d"][0::3]) > 100
    again, images_again = call("FLTTransform", reference=reference[None].astype(np.float32) / 255, mode="relative",
                               smoothing=1.0, retarget_body=False, fps=30.0, pose_keypoint=as_dwpose)
    assert max(again[0]["people"][0]["face_keypoints_2d"][0::3]) > 100  # pixels
    faces_again = np.stack([decode_like_controlnet_aux(d)["face_keypoints_2d"] for d in again])
    np.testing.assert_allclose(faces_again, faces, atol=0.05)
    assert np.mean(images_again != images) < 1e-3  # the same drawing, but for rounding at a few pixels' edges


def test_transform_node_on_frames_and_retarget(model_dir, monkeypatch, driving):
    monkeypatch.setenv("FACEFLT_MODEL_DIR", str(model_dir))
    frames, docs, _ = driving
    reference = frames[:1].astype(np.float32) / 255
    pose_keypoint, images = call("FLTTransform", reference=reference, mode="project", smoothing=0.0, retarget_body=False,
                                 fps=25.0, driving_frames=frames[:8].astype(np.float32) / 255)
    assert len(pose_keypoint) == 8 and images.shape[0] == 8
    decoded = decode_like_controlnet_aux(pose_keypoint[0])  # the default detector finds the head and shoulders
    assert {"pose_keypoints_2d", "face_keypoints_2d"} <= set(decoded) and len(decoded["pose_keypoints_2d"]) >= 5
    face_only, _ = call("FLTTransform", reference=reference, mode="project", smoothing=0.0, retarget_body=False,
                        fps=25.0, driving_frames=frames[:8].astype(np.float32) / 255, detector="dlib")
    assert np.isnan(decode_like_controlnet_aux(face_only[0]).get("pose_keypoints_2d", np.nan)).all()  # dlib: no body
    # ... written as DWPose writes a frame without a body, 18 missing points (controlnet_aux's consumers index it)
    assert face_only[0]["people"][0]["pose_keypoints_2d"] == [0.0] * 54
    # retargeting needs the reference's body; given it (limbs 1.5x the driver's), the limbs grow
    reference_docs = [dict(docs[0])]
    person = dict(reference_docs[0]["people"][0])
    body = np.asarray(person["pose_keypoints_2d"]).reshape(18, 3)
    body[:, :2] = body[1, :2] + 1.5 * (body[:, :2] - body[1, :2])
    person["pose_keypoints_2d"] = body.reshape(-1).tolist()
    reference_docs[0]["people"] = [person]
    with pytest.raises(ValueError, match="reference_pose_keypoint"):
        call("FLTTransform", reference=reference, mode="relative", smoothing=1.0, retarget_body=True, fps=30.0, pose_keypoint=docs)
    out, _ = call("FLTTransform", reference=reference, mode="relative", smoothing=1.0, retarget_body=True, fps=30.0,
                  pose_keypoint=docs, reference_pose_keypoint=reference_docs)
    before = decode_like_controlnet_aux(docs[0])["pose_keypoints_2d"]
    after = decode_like_controlnet_aux(out[0])["pose_keypoints_2d"]
    assert np.linalg.norm(after[2] - after[1]) == pytest.approx(1.5 * np.linalg.norm(before[2] - before[1]), rel=0.02)


def test_transform_node_checks_its_numbers_and_speaks_in_its_inputs(model_dir, monkeypatch, driving):
    """Called directly (a script), the node applies INPUT_TYPES' ranges as ComfyUI's validation does; a driving
    video with no face is refused in the node's own terms, not the command line's."""
    monkeypatch.setenv("FACEFLT_MODEL_DIR", str(model_dir))
    frames, docs, _ = driving
    reference = frames[:1].astype(np.float32) / 255
    for bad, match in (({"fps": 0.0}, "fps must be between 1 and 240, got 0.0"),
                       ({"smoothing": float("nan")}, "smoothing must be between 0 and 10, got nan"),
                       ({"smoothing": -1.0}, "smoothing must be between 0 and 10")):
        inputs = dict(reference=reference, mode="relative", smoothing=1.0, retarget_body=False, fps=30.0, pose_keypoint=docs)
        with pytest.raises(ValueError, match=match):
            call("FLTTransform", **{**inputs, **bad})
    mixed = [dict(d) for d in docs]
    mixed[5] = {**mixed[5], "canvas_width": 640}
    with pytest.raises(ValueError, match="POSE_KEYPOINT frame 5 is 640x512 where frame 0 is 512x512"):
        call("FLTTransform", **{**inputs, "pose_keypoint": mixed})
    animals = [{"version": "ap10k", "animals": [[[10, 10, 1]] * 17], "canvas_height": 512, "canvas_width": 512}]
    with pytest.raises(ValueError, match="animal poses"):
        call("FLTTransform", **{**inputs, "pose_keypoint": animals})
    blank = np.zeros((4, 64, 64, 3), np.float32)
    with pytest.raises(ValueError, match="no face was found in any driving frame") as caught:
        call("FLTTransform", reference=reference, mode="relative", smoothing=1.0, retarget_body=False, fps=30.0,
             driving_frames=blank, detector="dlib")
    assert "--" not in str(caught.value) and "detector input" in str(caught.value)


def test_progress_and_cancel_inside_comfyui(model_dir, monkeypatch, driving):
    """Inside ComfyUI (its comfy.utils.ProgressBar and comfy.model_management, faked here as ComfyUI defines them),
    detecting the driving frames moves the node's bar frame by frame, and Cancel stops the node between frames."""
    import sys
    import types

    monkeypatch.setenv("FACEFLT_MODEL_DIR", str(model_dir))
    frames, _, _ = driving
    updates, cancel_after = [], [None]

    class ProgressBar:
        def __init__(self, total):
            self.total = total

        def update(self, n):
            updates.append((self.total, n))

    class InterruptProcessingException(Exception):
        pass

    def processing_interrupted():  # Cancel pressed: the flag stays set until ComfyUI's next prompt
        return cancel_after[0] is not None and len(updates) >= cancel_after[0]

    comfy = types.ModuleType("comfy")
    utils = types.ModuleType("comfy.utils")
    management = types.ModuleType("comfy.model_management")
    utils.ProgressBar = ProgressBar
    management.processing_interrupted = processing_interrupted
    management.InterruptProcessingException = InterruptProcessingException
    monkeypatch.setitem(sys.modules, "comfy", comfy)
    monkeypatch.setitem(sys.modules, "comfy.utils", utils)
    monkeypatch.setitem(sys.modules, "comfy.model_management", management)
    inputs = dict(reference=frames[:1].astype(np.float32) / 255, mode="relative", smoothing=1.0, retarget_body=False,
                  fps=30.0, driving_frames=frames[:6].astype(np.float32) / 255, detector="dlib")
    call("FLTTransform", **inputs)
    assert updates == [(6, 1)] * 6
    updates.clear()
    cancel_after[0] = 2
    with pytest.raises(InterruptProcessingException):
        call("FLTTransform", **inputs)
    assert len(updates) == 2
    # holistic, the default, follows 40 frames in two graphs at once, each reporting from its own thread
    updates.clear()
    cancel_after[0] = None
    inputs.update(driving_frames=np.concatenate([frames, frames]).astype(np.float32) / 255, detector="holistic")
    call("FLTTransform", **inputs)
    assert updates == [(40, 1)] * 40
    updates.clear()
    cancel_after[0] = 5
    with pytest.raises(InterruptProcessingException):
        call("FLTTransform", **inputs)
    assert len(updates) < 40


def test_node_terms_follow_the_core_messages():
    """Each command-line phrase the node rewrites in its own terms is still in the messages faceflt raises."""
    from pathlib import Path

    import faceflt
    from faceflt import comfyui

    source = "".join(p.read_text() for p in Path(faceflt.__file__).parent.rglob("*.py") if p.name != "comfyui.py")
    for cli, _ in (*comfyui._NODE_TERMS, *comfyui._KEYPOINT_TERMS):
        assert cli in source, cli


def test_images_accept_torch_like_tensors_without_torch():
    class FakeTensor:  # what the converter needs of a torch tensor
        def __init__(self, a):
            self.a = a

        def detach(self):
            return self

        def cpu(self):
            return self

        def numpy(self):
            return self.a

    class HalfTensor(FakeTensor):  # bfloat16: numpy has no such type, so float() must come first
        def float(self):
            return FakeTensor(self.a)

        def numpy(self):
            raise TypeError("Got unsupported ScalarType BFloat16")

    image = np.random.default_rng(0).uniform(0, 1, (2, 4, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(images_to_numpy(FakeTensor(image)), np.round(image * 255).astype(np.uint8))
    np.testing.assert_array_equal(images_to_numpy(HalfTensor(image)), np.round(image * 255).astype(np.uint8))
    assert images_to_numpy(np.ones((4, 5, 1), np.float32)).shape == (1, 4, 5, 3)
    with pytest.raises(ValueError, match=r"\(B, H, W, C\)"):
        images_to_numpy(np.ones((4, 5), np.float32))


def test_comfyui_install_writes_a_custom_node_that_loads(tmp_path, capsys):
    assert main(["comfyui", "install", str(tmp_path / "nowhere")]) == 1
    assert "no custom_nodes folder" in capsys.readouterr().err
    (tmp_path / "custom_nodes").mkdir()
    assert main(["comfyui", "install", str(tmp_path)]) == 0
    # as ComfyUI loads a custom node: the folder's __init__.py, imported as a module
    spec = importlib.util.spec_from_file_location("faceflt_custom_node", tmp_path / "custom_nodes" / "faceflt" / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.NODE_CLASS_MAPPINGS is NODE_CLASS_MAPPINGS


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out
