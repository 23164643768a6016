"""`faceflt model download` from a local mirror (offline), sha256 checks, and the command line."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

import faceflt
from faceflt.cli import main
from faceflt.errors import DownloadError, InputError
from faceflt.model import MODEL_FILES


@pytest.fixture()
def mirror(tmp_path, model_dir):
    m = tmp_path / "mirror"
    m.mkdir()
    for f in MODEL_FILES:
        shutil.copy(model_dir / f.name, m / f.name)
    return m


def test_download_from_a_local_mirror(tmp_path, mirror):
    dest = faceflt.download_model(tmp_path / "cache", base_url=mirror.as_uri() + "/", progress=None)
    assert sorted(p.name for p in dest.iterdir()) == sorted(f.name for f in MODEL_FILES)
    assert faceflt.load_model(dest).num_vertices == 3448


def test_a_bad_checksum_installs_nothing(tmp_path, mirror):
    (mirror / "sfm_model_contours.json").write_text('{"model_contour": {}}')
    dest = tmp_path / "cache"
    with pytest.raises(DownloadError, match="sfm_model_contours.json: sha256 .* does not match"):
        faceflt.download_model(dest, base_url=mirror.as_uri(), progress=None)
    assert not dest.exists()  # all or nothing: no file, no temporary, and not the folder this call made


def test_an_unreachable_mirror_says_so(tmp_path):
    with pytest.raises(DownloadError, match="nowhere: no such folder"):
        faceflt.download_model(tmp_path, base_url=(tmp_path / "nowhere").as_uri(), progress=None)
    with pytest.raises(DownloadError, match="ftp:// is not supported"):
        faceflt.download_model(tmp_path, base_url="ftp://example.org/sfm/", progress=None)
    with pytest.raises(DownloadError, match="--url is empty"):
        faceflt.download_model(tmp_path, base_url="", progress=None)


def test_offline_download_says_what_to_do_and_leaves_nothing(tmp_path, capsys):
    """No network (a refused connection): one line naming --url and FACEFLT_MODEL_DIR, no empty cache folder."""
    dest = tmp_path / "cache" / "sfm"
    assert main(["model", "download", "--dest", str(dest), "--url", "http://127.0.0.1:9/"]) == 1
    err = capsys.readouterr().err
    assert "--url" in err and "FACEFLT_MODEL_DIR" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not dest.exists()


def test_a_file_url_in_any_spelling_is_a_mirror(tmp_path, mirror):
    for i, url in enumerate((mirror.as_uri().replace("file://", "FILE://"), "file:" + str(mirror))):
        dest = faceflt.download_model(tmp_path / f"cache{i}", base_url=url, progress=None)
        assert sorted(p.name for p in dest.iterdir()) == sorted(f.name for f in MODEL_FILES)


def test_a_plain_folder_is_a_mirror_and_files_are_readable(tmp_path, mirror):
    dest = faceflt.download_model(tmp_path / "cache", base_url=str(mirror), progress=None)
    assert all((p.stat().st_mode & 0o777) == 0o644 for p in dest.iterdir())
    assert faceflt.load_model(dest).num_vertices == 3448
    assert repr(faceflt.load_model(dest)).startswith("<faceflt FaceModel: 3448 vertices, 6736 triangles, 63 shape coefficients")


def test_cli_download_and_info(tmp_path, mirror, capsys, monkeypatch):
    assert main(["model", "download", "--dest", str(tmp_path / "m"), "--url", mirror.as_uri()]) == 0
    monkeypatch.setenv("FACEFLT_MODEL_DIR", str(tmp_path / "m"))
    assert main(["model", "info"]) == 0
    out = capsys.readouterr().out
    assert "vertices: 3448" in out and "anger, disgust" in out


def test_cli_reports_a_missing_model(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FACEFLT_MODEL_DIR", str(tmp_path))
    assert main(["model", "info"]) == 1
    assert "faceflt model download" in capsys.readouterr().err


def test_eval_synthetic_refuses_bad_sizes_in_one_line(capsys):
    for argv, match in ((["--pairs", "0"], "--pairs and --frames must be at least 1"),
                        (["--frames", "-1"], "--pairs and --frames must be at least 1"),
                        (["--noise", "-5"], "--noise must be a finite number"), (["--noise", "nan"], "--noise must be a finite number")):
        assert main(["eval", "synthetic", *argv]) == 1
        err = capsys.readouterr().err
        assert match in err and "Traceback" not in err, err


def test_eval_videos_without_arguments_is_one_line(tmp_path, capsys, monkeypatch):
    assert main(["eval", "videos"]) == 1
    err = capsys.readouterr().err
    assert "give --generated and --references" in err and "Traceback" not in err
    (tmp_path / "pairs.csv").write_text("video,reference\n")
    assert main(["eval", "videos", "--pairs", str(tmp_path / "pairs.csv"), "--max-frames", "0"]) == 1
    assert "--max-frames must be at least 1, got 0" in capsys.readouterr().err
    # videos with no face anywhere: no figure, not a mean of 0
    import faceflt.evaluation.identity as identity

    (tmp_path / "pairs.csv").write_text("video,reference\ng.mp4,r.png\n")
    none = identity.VideoIdentity("g.mp4", "r.png", frames=3, faces=0, mean_similarity=float("nan"), variance=float("nan"))
    monkeypatch.setattr(identity, "make_embedder", lambda model: type("E", (), {"name": "stub"})())
    monkeypatch.setattr(identity, "evaluate_videos", lambda *a: ([none], float("nan")))
    assert main(["eval", "videos", "--pairs", str(tmp_path / "pairs.csv")]) == 1
    assert "no face was found in any generated video" in capsys.readouterr().err
    monkeypatch.undo()
    from faceflt.evaluation.identity import make_embedder

    with pytest.raises(InputError, match="pairs.csv: not a loadable ONNX model"):
        make_embedder(str(tmp_path / "pairs.csv"))


def test_help_shows_defaults_once_and_examples(capsys):
    import pytest as _pytest

    for argv in (["transform", "--help"], ["eval", "identity", "--help"], ["model", "download", "--help"]):
        with _pytest.raises(SystemExit):
            main(argv)
        text = capsys.readouterr().out
        assert "(default: None)" not in text and "default: dlib) (default" not in text
        assert "(default: True)" not in text  # a flag that turns something off: off unless given
        assert "example" in text, argv


def test_cli_help_is_installed():
    done = subprocess.run([sys.executable, "-m", "faceflt.cli", "model", "download", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    text = re.sub(r"-\s+", "-", done.stdout)  # undo argparse's line wrapping after hyphens
    assert "sha256" in text and "non-commercial" in text


def test_progress_shows_on_a_terminal_that_reports_no_width(monkeypatch):
    """A pseudo-terminal never sized (`script` without a terminal, some CI runners) reports 0 columns: the bar still
    shows, at 80 columns, and nothing shows where stderr is not a terminal."""
    import os
    import pty
    import select

    from faceflt.progress import Progress

    master, slave = pty.openpty()  # a new pty's size is 0 x 0
    with os.fdopen(slave, "w") as terminal:
        monkeypatch.setattr("sys.stderr", terminal)
        bar = Progress("testing", 3, True)
        bar.step(3)
        bar.close()
        ready, _, _ = select.select([master], [], [], 5)
        shown = os.read(master, 4096).decode() if ready else ""
    os.close(master)
    assert "testing:" in shown and "/3 " in shown
    import io

    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    bar = Progress("testing", 3, True)
    bar.step(3)
    bar.close()
    assert log.getvalue() == ""  # no carriage-return lines in a log file
