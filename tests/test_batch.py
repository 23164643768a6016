"""`faceflt batch`: parallel over processes, failures listed without stopping the rest, resumable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faceflt.batch import read_manifest, run_batch
from faceflt.cli import main
from faceflt.errors import InputError
from faceflt.pipeline import TransformOptions

from conftest import IMAGES, SHARED, require


def test_batch_runs_lists_failures_and_resumes(tmp_path, model_dir, capsys):
    video = require(SHARED / "data" / "videos" / "liveportrait_d3.mp4", "liveportrait_d3.mp4")
    reference = require(IMAGES / "image_0010.png", "image_0010")
    manifest = tmp_path / "jobs.csv"
    manifest.write_text("reference,driving,out\n"
                        f"{reference},{video},out/a\n"
                        f"{reference};{IMAGES / 'moore_talkinghead_3.png'},{video},out/b\n"
                        f"missing.jpg,{video},out/c\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / ".a.partial-999").mkdir()  # left by an interrupted run
    argv = ["batch", str(manifest), "--workers", "2", "--model-dir", str(model_dir), "--max-frames", "4", "--format", "npz"]
    assert main(argv) == 1  # one item failed
    captured = capsys.readouterr()
    assert "2 done, 0 already finished (skipped), 1 failed" in captured.out
    assert "missing.jpg: no such file" in captured.out
    assert (tmp_path / "out" / "a" / "landmarks.npz").is_file() and (tmp_path / "out" / "b" / "keypoints.npz").is_file()
    assert not (tmp_path / "out" / ".a.partial-999").exists() and not (tmp_path / "out" / "c").exists()
    # again: the finished items are skipped, the failing one is tried again
    assert main(argv) == 1
    printed, progress = capsys.readouterr()
    assert "0 done, 2 already finished (skipped), 1 failed" in printed
    assert "[3/3]" in progress and progress.count("already finished (skipped)") == 2  # the count reaches every item


def test_manifests(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps([{"reference": ["a.jpg", "b.jpg"], "driving": "v.mp4", "out": "o"}]))
    items = read_manifest(tmp_path / "m.json")
    assert items[0].references == (str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")) and items[0].out == str(tmp_path / "o")
    (tmp_path / "bad.csv").write_text("reference,driving\na.jpg,v.mp4\n")
    with pytest.raises(InputError, match="item 1 lacks out"):
        read_manifest(tmp_path / "bad.csv")
    (tmp_path / "dup.csv").write_text("reference,driving,out\na.jpg,v.mp4,o\nb.jpg,w.mp4,o\n")
    with pytest.raises(InputError, match="same output folder"):
        read_manifest(tmp_path / "dup.csv")
    with pytest.raises(ValueError, match="engine"):
        run_batch([], TransformOptions(), engine="spark")
    with pytest.raises(InputError, match="--workers must be at least 1"):
        run_batch([], TransformOptions(), workers=0)
    # a manifest that is not what it should be is named, in one line
    for name, text, match in (("ints.json", "[1, 2]", "a JSON manifest is a list of"),
                              ("broken.json", '[{"reference": "a.jpg"\n x', "broken.json: not valid JSON"),
                              ("binary.csv", None, "binary.csv: not a readable CSV")):
        path = tmp_path / name
        path.write_bytes(b"\xff\xfe\x00\x81" * 8) if text is None else path.write_text(text)
        with pytest.raises(InputError, match=match):
            read_manifest(path)
    for name, text, match in (("empty.csv", "reference,driving,out\n", "no items"), ("empty.json", "[]", "no items"),
                              ("twice.csv", "reference,driving,out\na.jpg,v.mp4,o\nb.jpg,w.mp4,./x/../o\n", "same output folder")):
        (tmp_path / name).write_text(text)
        with pytest.raises(InputError, match=match):
            read_manifest(tmp_path / name)
    with pytest.raises(InputError, match="a folder; the manifest is a CSV or JSON file"):
        read_manifest(tmp_path)
    # Excel's "CSV UTF-8" starts with a byte-order mark, which is not part of the first column's name
    (tmp_path / "excel.csv").write_text("\ufeffreference,driving,out\na.jpg,v.mp4,o\n", encoding="utf-8")
    assert read_manifest(tmp_path / "excel.csv")[0].references == (str(tmp_path / "a.jpg"),)


def test_a_batch_after_mediapipe_ran_in_the_same_process(tmp_path, model_dir):
    """A notebook that transformed one clip, then runs a batch: the workers must not be forks of a process holding
    MediaPipe's threads (such a fork aborted in MediaPipe, and the pool waited for it forever)."""
    import subprocess
    import sys

    video = require(SHARED / "data" / "videos" / "liveportrait_d3.mp4", "liveportrait_d3.mp4")
    reference = require(IMAGES / "image_0010.png", "image_0010")
    script = f"""
import faceflt
from faceflt.batch import BatchItem, run_batch
options = faceflt.TransformOptions(model_dir={str(model_dir)!r}, max_frames=2, formats=("npz",), progress=False)
faceflt.transform({str(reference)!r}, {str(video)!r}, {str(tmp_path / "first")!r}, options)
report = run_batch([BatchItem(({str(reference)!r},), {str(video)!r}, {str(tmp_path / "second")!r})], options, workers=1)
assert len(report.done) == 1, report.failed
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "second" / "landmarks.npz").is_file()


def test_ray_engine_runs_the_same_items(tmp_path, model_dir):
    ray = pytest.importorskip("ray")
    video = require(SHARED / "data" / "videos" / "liveportrait_d3.mp4", "liveportrait_d3.mp4")
    reference = require(IMAGES / "image_0010.png", "image_0010")
    manifest = tmp_path / "jobs.csv"
    manifest.write_text("reference,driving,out\n"
                        f"{reference},{video},out/a\n"
                        f"missing.jpg,{video},out/c\n")
    items = read_manifest(manifest)
    options = TransformOptions(model_dir=str(model_dir), max_frames=3, formats=("npz",))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)  # a local cluster
    try:
        report = run_batch(items, options, engine="ray")
        again = run_batch(items, options, engine="ray")
    finally:
        ray.shutdown()
    assert [Path(i.out).name for i in report.done] == ["a"] and len(report.failed) == 1
    assert "missing.jpg: no such file" in report.failed[0][1]
    assert (tmp_path / "out" / "a" / "landmarks.npz").is_file() and not (tmp_path / "out" / "c").exists()
    assert [Path(i.out).name for i in again.skipped] == ["a"] and not again.done


def test_ctrl_c_stops_promptly_and_resumes(tmp_path, model_dir):
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) mid-batch: the command ends within seconds
    with one line saying how to resume, no traceback and no half-written output; the same command then
    finishes the rest."""
    import os
    import signal
    import subprocess
    import sys
    import time

    video = require(SHARED / "data" / "videos" / "liveportrait_d3.mp4", "liveportrait_d3.mp4")
    reference = require(IMAGES / "image_0010.png", "image_0010")
    manifest = tmp_path / "jobs.csv"
    names = "abcdefgh"
    manifest.write_text("reference,driving,out\n" + "".join(f"{reference},{video},out/{k}\n" for k in names))
    argv = [sys.executable, "-m", "faceflt.cli", "batch", str(manifest), "--workers", "1", "--model-dir", str(model_dir),
            "--max-frames", "50", "--format", "npz"]
    # a shell that starts the tests in the background (nohup, `&`) hands them SIGINT ignored, and Python then
    # keeps it ignored: the batch gets it back as a terminal would give it
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = []
    while not any(line.startswith("[1/") for line in seen):  # the first item is done, the second in flight
        line = proc.stderr.readline()
        assert line, "the batch ended before its first item was done: " + "".join(seen)
        seen.append(line)
    os.killpg(proc.pid, signal.SIGINT)
    start = time.perf_counter()
    _, err = proc.communicate(timeout=60)
    err = "".join(seen) + err
    assert time.perf_counter() - start < 10, "the batch did not stop promptly"
    assert proc.returncode == 130, err
    assert "run the same command again to resume" in err and "Traceback" not in err
    assert not list((tmp_path / "out").glob(".*partial*"))
    again = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert all((tmp_path / "out" / k / "landmarks.npz").is_file() for k in names)
