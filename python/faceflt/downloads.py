"""Fetching files into faceflt's per-user cache, each checked against a sha256 before it is installed.

One way for every download: the file is written under a temporary name in the target folder, its sha256 is
compared with the expected one, and only then is it made readable to all (0644) and moved into place; a failed
or interrupted download leaves nothing behind, nor an empty folder it created. A plain folder or a ``file://``
URL works as the source, so a local mirror works offline.

Where the sums come from:
- the Surrey Face Model (``faceflt model download``): pinned in :mod:`faceflt.model`;
- DWPose's ONNX files (``faceflt model download dwpose``, from ``yzd-v/DWPose`` on the Hugging Face hub, as
  controlnet_aux and rtmlib fetch them): the sums their source publishes. A mirror publishes a ``SHA256SUMS``
  file beside the files (``sha256sum yolox_l.onnx dw-ll_ucoco_384.onnx > SHA256SUMS``); the hub publishes each
  large file's sha256 as its LFS object id (the ``X-Linked-Etag`` header of the file's URL). Those sums catch a
  truncated or corrupted transfer and a mirror holding other files; they trust the source. Once installed, the
  sums are kept in the cache's own ``SHA256SUMS``, so a second run checks the files without the network.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable, Mapping

from .errors import DownloadError

__all__ = ["DWPOSE_FILES", "DWPOSE_URL", "cache_root", "download_dwpose", "download_files", "dwpose_dir", "published_sums"]

Progress = Callable[[str, int, "int | None"], None]

#: DWPose's two ONNX files (person detector, whole-body pose model) as the DWPose authors publish them.
DWPOSE_FILES = ("yolox_l.onnx", "dw-ll_ucoco_384.onnx")
DWPOSE_URL = "https://huggingface.co/yzd-v/DWPose/resolve/main/"
SUMS = "SHA256SUMS"
_HEX64 = re.compile(r"[0-9a-f]{64}")


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/faceflt`` (``~/.cache/faceflt``): one folder per set of files below it."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "faceflt"


def dwpose_dir() -> Path:
    """Where ``faceflt model download dwpose`` puts DWPose's files and ``--detector dwpose`` looks for them."""
    return cache_root() / "dwpose"


def as_base_url(url: str) -> str:
    """A URL ending in '/': a plain folder becomes a file:// URL."""
    if "://" not in url:
        url = Path(url).expanduser().resolve().as_uri()
    return url if url.endswith("/") else url + "/"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_sums(text: str) -> dict[str, str]:
    """sha256sum's format: '<hex>  <name>' (or '<hex> *<name>') per line."""
    sums = {}
    for line in text.splitlines():
        parts = line.strip().split(maxsplit=1)
        if len(parts) == 2 and _HEX64.fullmatch(parts[0].lower()):
            sums[parts[1].lstrip("*").strip()] = parts[0].lower()
    return sums


def default_progress(name: str, done: int, total: int | None) -> None:
    if not sys.stderr.isatty():
        return
    size = f" / {total / 1e6:.2f}" if total else ""
    sys.stderr.write(f"\r  {name}: {done / 1e6:6.2f}{size} MB")
    sys.stderr.flush()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # the hub's headers are on the redirect itself
        return None


def _offline(url: str, reason, hint: str) -> DownloadError:
    return DownloadError(f"could not download {url} ({reason}). Without internet, copy the files from a machine that "
                         f"has them and pass --url /path/to/folder (or a file:// URL){hint}")


def published_sums(base_url: str, names: tuple[str, ...], hint: str = "") -> dict[str, str]:
    """The sha256 of each file as its source publishes it: the source's SHA256SUMS, else (over http) each file's
    LFS object id from the Hugging Face hub. Raises DownloadError when the source publishes none for a file."""
    try:
        with urllib.request.urlopen(base_url + SUMS, timeout=60) as response:
            sums = read_sums(response.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as e:
        e.close()
        sums = {}
    except urllib.error.URLError as e:
        folder = Path(urllib.request.url2pathname(urllib.parse.urlparse(base_url).path))
        if base_url.startswith("file:") and folder.is_dir():
            sums = {}  # a folder without SHA256SUMS
        else:
            raise _offline(base_url + SUMS, getattr(e, "reason", e), hint) from None
    missing = [n for n in names if n not in sums]
    if missing and base_url.startswith(("http://", "https://")):
        opener = urllib.request.build_opener(_NoRedirect)
        for name in missing:
            try:
                with opener.open(urllib.request.Request(base_url + name, method="HEAD"), timeout=60) as response:
                    headers = response.headers
            except urllib.error.HTTPError as e:
                e.close()
                if e.code >= 400:
                    raise DownloadError(f"{base_url}{name}: HTTP {e.code} {e.reason}; check --url") from None
                headers = e.headers  # a redirect: the hub puts the file's sha256 on it
            except urllib.error.URLError as e:
                raise _offline(base_url + name, getattr(e, "reason", e), hint) from None
            etag = (headers.get("X-Linked-Etag") or "").strip('"W/ ').lower()
            if _HEX64.fullmatch(etag):
                sums[name] = etag
    missing = [n for n in names if n not in sums]
    if missing:
        raise DownloadError(f"{base_url} publishes no sha256 for {', '.join(missing)}: a mirror needs a {SUMS} file beside "
                            f"the files (sha256sum {' '.join(names)} > {SUMS}); nothing was downloaded")
    return {n: sums[n] for n in names}


def fetch(url: str, final: Path, sha256: str, progress: Progress | None = default_progress, hint: str = "") -> None:
    """Downloads url to final (whose folder exists) if its sha256 matches; else raises DownloadError, leaving nothing."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", dir=final.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            total = response.headers.get("Content-Length")
            total_bytes, done = (int(total) if total else None), 0
            while block := response.read(1 << 16):
                out.write(block)
                done += len(block)
                if progress:
                    progress(final.name, done, total_bytes)
        if progress and sys.stderr.isatty():
            sys.stderr.write("\n")
        digest = sha256_of(tmp)
        if digest != sha256:
            raise DownloadError(f"{url}: sha256 {digest} does not match the expected {sha256}; the source holds a different "
                                "or corrupted file. Nothing was installed for it.")
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the cache's files are for every user of it
        shutil.move(tmp, final)
    except urllib.error.URLError as e:
        raise _offline(url, getattr(e, "reason", e), hint) from None
    except OSError as e:
        raise DownloadError(f"could not write {final} ({e.strerror}); choose another --dest") from None
    finally:
        tmp.unlink(missing_ok=True)


def download_files(target: Path, base_url: str, sums: Mapping[str, str] | Callable[[], Mapping[str, str]], force: bool = False,
                   progress: Progress | None = default_progress, hint: str = "") -> Path:
    """Fetches each file named in ``sums`` (name -> sha256, or a callable giving them: called only when a file must
    be fetched) into ``target``, keeping those already there with the right sum (the given ones, or those recorded
    in the target's SHA256SUMS by an earlier download). Records published sums in the target's SHA256SUMS."""
    base_url = as_base_url(base_url)
    created = not target.exists()
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"could not create {target} ({e.strerror}); choose another --dest") from None
    try:
        recorded = read_sums((target / SUMS).read_text()) if (target / SUMS).is_file() else {}
        known = dict(sums) if isinstance(sums, Mapping) else recorded
        names = list(sums) if isinstance(sums, Mapping) else list(recorded)
        kept = bool(names) and not force and all((target / n).is_file() and sha256_of(target / n) == known.get(n) for n in names)
        if not kept:
            expected = dict(sums) if isinstance(sums, Mapping) else dict(sums())
            for name, digest in expected.items():
                if force or not (target / name).is_file() or sha256_of(target / name) != digest:
                    fetch(base_url + name, target / name, digest, progress, hint)
            known = expected
        if not isinstance(sums, Mapping):  # published sums: kept to check the files offline next time
            (target / SUMS).write_text("".join(f"{d}  {n}\n" for n, d in known.items()))
            os.chmod(target / SUMS, 0o644)
    except BaseException:
        if created and target.is_dir() and not any(target.iterdir()):  # nothing installed: no empty folder left
            target.rmdir()
        raise
    return target


def download_dwpose(dest: str | os.PathLike[str] | None = None, base_url: str = DWPOSE_URL, force: bool = False,
                    progress: Progress | None = default_progress) -> Path:
    """DWPose's yolox_l.onnx and dw-ll_ucoco_384.onnx into ``dest`` (default: :func:`dwpose_dir`, where
    ``--detector dwpose`` finds them), each checked against the sha256 its source publishes (see the module)."""
    base = as_base_url(base_url)
    hint = ", or pass the detector your own files: --detector-option detector_model=... pose_model=..."
    return download_files(Path(dest) if dest is not None else dwpose_dir(), base,
                          lambda: published_sums(base, DWPOSE_FILES, hint), force, progress, hint)
