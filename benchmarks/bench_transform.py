"""The transform's speed and memory, measured in one run:

- per FLT mode, frames/s from already detected and fitted landmarks (the FLT step alone, the fastest of
  3 passes), and its time as a ratio to the ``project`` mode's (one fusion call a frame) in the same run;
- end to end with the default detector (decode, MediaPipe Holistic whole-body detection with tracking, fits,
  FLT, drawing, writing), frames/s on two real 512 x 512 videos, a 480 x 480 one and a 1080 x 1920 dance (the
  whole body, hands followed: the pose video is HD), each also as a ratio to
  eos-py's ``fit_shape_and_pose`` time per frame on that video's own detected landmarks (every 5th of its first
  300 frames), measured in the same run (issue 12's goal: at least 30 frames/s and at most 0.4x eos-py's fit);
- each run's peak memory (the child process's own VmHWM) for the first 200 frames and for the whole 1008-frame
  video: the video streams, so the second is not five times the first.

    python benchmarks/bench_transform.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import IMAGES, MODEL_DIR, SHARED  # noqa: E402

VIDEO = SHARED / "data" / "videos" / "liveportrait_d6.mp4"  # 480 x 480, 1008 frames
VIDEO_512 = SHARED / "data" / "videos" / "liveportrait_d12.mp4"  # 512 x 512, 183 frames
VIDEO_512_B = SHARED / "data" / "videos" / "liveportrait_d3.mp4"  # 512 x 512, 354 frames
DANCE = SHARED / "data" / "videos" / "musepose_dance.mp4"  # 1080 x 1920, a whole body with hands
REFERENCE = IMAGES / "moore_talkinghead_3.png"

CHILD = """
import json, sys, tempfile, time
import faceflt
frames = None if sys.argv[1] == "all" else int(sys.argv[1])
start = time.perf_counter()
with tempfile.TemporaryDirectory() as tmp:
    result = faceflt.transform(sys.argv[2], sys.argv[3], tmp + "/out", model_dir=sys.argv[4], max_frames=frames, progress=False)
elapsed = time.perf_counter() - start
# this process's own peak (VmHWM starts afresh at exec; getrusage's maxrss would carry the parent's over)
with open("/proc/self/status") as status:
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
print(json.dumps({"frames": len(result.landmarks), "seconds": elapsed, "peak_mb": peak_kb / 1024}))
"""


def main() -> None:
    from faceflt.flt import Mode
    from faceflt.pipeline import Pipeline, TransformOptions
    from faceflt.plugins import close_detector

    pipeline = Pipeline(TransformOptions(model_dir=str(MODEL_DIR), max_frames=300, formats=(), progress=False))
    prepared = pipeline.prepare([REFERENCE], VIDEO)
    n = len(prepared.detections.landmarks)
    print(f"FLT step alone, {n} frames of {VIDEO.name} (detection and fits done):")
    seconds = {}
    for mode in Mode:
        passes = []
        for _ in range(3):
            start = time.perf_counter()
            pipeline.landmarks(prepared, mode)
            passes.append(time.perf_counter() - start)
        seconds[mode] = min(passes)
    close_detector(prepared.detector)
    for mode, s in seconds.items():
        print(f"  {mode.value:9s} {n / s:8.1f} frames/s, {s / seconds[Mode.PROJECT]:5.2f}x project's time")
    print("end to end, each in a fresh process (decode, whole-body detection with tracking, fits, FLT, outputs), and")
    print("eos-py's fit_shape_and_pose alone on every 5th frame's landmarks of the same video (the fastest of 3 passes):")
    eos_ms = {}
    for video, frames in ((VIDEO_512, "all"), (VIDEO_512_B, "300"), (VIDEO, "200"), (VIDEO, "all"), (DANCE, "150")):
        if video not in eos_ms:
            own = Pipeline(TransformOptions(model_dir=str(MODEL_DIR), max_frames=300, formats=(), progress=False)).prepare([REFERENCE], video)
            close_detector(own.detector)
            eos_ms[video] = _eos_ms_per_frame(own.detections.landmarks[::5], (own.source.width, own.source.height))
        out = subprocess.run([sys.executable, "-c", CHILD, frames, str(REFERENCE), str(video), str(MODEL_DIR)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        ms = 1e3 * r["seconds"] / r["frames"]
        e = eos_ms[video]
        ratio = f", {ms / e:.2f}x eos-py's fit alone ({e:.1f} ms a frame)" if e else ""
        print(f"  {video.name} {r['frames']:5d} frames: {r['frames'] / r['seconds']:6.1f} frames/s{ratio}, "
              f"peak memory {r['peak_mb']:.0f} MB")


def _eos_ms_per_frame(landmarks, size) -> float | None:
    """eos-py's fit_shape_and_pose on these landmarks, milliseconds a frame (the fastest of 3 passes); None
    without eos-py."""
    try:
        import eos
    except ImportError:
        print("  (eos-py is not installed: no ratio to its fit)")
        return None
    import numpy as np

    from eos_oracle import make_eos_fitter

    fit_eos = make_eos_fitter(eos, MODEL_DIR)
    ok = [p for p in landmarks if np.isfinite(p).all()]
    if not ok:
        print("  (no frame with all 68 landmarks: no ratio to eos-py's fit)")
        return None
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for p in ok:
            fit_eos(p, *size)
        best = min(best, time.perf_counter() - start)
    return 1e3 * best / len(ok)


if __name__ == "__main__":
    main()
