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
import http.client
import os
import re
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
    """A URL ending in '/': a plain folder becomes a file:// URL. Raises DownloadError for an empty one, a folder
    that does not exist, or a scheme urllib would not fetch from (http, https and file are)."""
    if not url.strip():
        raise DownloadError("--url is empty; give the base URL of the files or a folder holding them")
    scheme, sep, rest = url.partition(":")
    if sep and len(scheme) > 1 and scheme.isalpha():  # a URL (not a Windows drive letter): its scheme in lower case
        url = scheme.lower() + ":" + rest
        if url.startswith("file:") and not url.startswith("file://"):  # file:/path, a valid file URI too
            url = "file://" + url[len("file:"):]
    if "://" not in url:
        folder = Path(url).expanduser().resolve()
        if not folder.is_dir():
            raise DownloadError(f"--url {url}: no such folder")
        url = folder.as_uri()
    scheme = url.split("://", 1)[0].lower()
    if scheme not in ("http", "https", "file"):
        raise DownloadError(f"--url {url}: {scheme}:// is not supported; give an http(s):// or file:// URL, or a folder")
    try:
        urllib.parse.urlsplit(url)
    except ValueError as e:
        raise DownloadError(f"--url {url}: not a valid URL ({e})") from None
    if scheme == "file":
        folder = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
        if not folder.is_dir():
            raise DownloadError(f"--url {url}: no such folder")
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
            name = parts[1].lstrip("*").strip()
            sums[name[2:] if name.startswith("./") else name] = parts[0].lower()
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
    except urllib.error.HTTPError as e:  # the hub has none: its files' own sums are asked for below
        e.close()
        sums = {}
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        folder = Path(urllib.request.url2pathname(urllib.parse.urlparse(base_url).path))
        if base_url.startswith("file:") and folder.is_dir():
            sums = {}  # a folder without SHA256SUMS
        else:
            raise _network_error(base_url + SUMS, e, hint) from None
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
                    raise _network_error(base_url + name, e, hint) from None
                headers = e.headers  # a redirect: the hub puts the file's sha256 on it
            except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
                raise _network_error(base_url + name, e, hint) from None
            etag = (headers.get("X-Linked-Etag") or "").strip('"W/ ').lower()
            if _HEX64.fullmatch(etag):
                sums[name] = etag
    missing = [n for n in names if n not in sums]
    if missing:
        raise DownloadError(f"{base_url} publishes no sha256 for {', '.join(missing)}: a mirror needs a {SUMS} file beside "
                            f"the files (sha256sum {' '.join(names)} > {SUMS}); nothing was downloaded")
    return {n: sums[n] for n in names}


def _network_error(url: str, error: BaseException, hint: str) -> DownloadError:
    """One message per kind of failure to read from the source."""
    if isinstance(error, urllib.error.HTTPError):
        return DownloadError(f"{url}: HTTP {error.code} {error.reason}; check --url")
    return _offline(url, getattr(error, "reason", None) or error, hint)


def fetch(url: str, into: Path, sha256: str, progress: Progress | None = default_progress, hint: str = "",
          name: str = "") -> None:
    """Downloads url into the file ``into`` and checks its sha256; raises DownloadError (a network failure, a file
    that cannot be written, or a different file). ``name``: the file's name for the progress line."""
    try:
        response = urllib.request.urlopen(url, timeout=60)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        raise _network_error(url, e, hint) from None
    with response:
        total = response.headers.get("Content-Length")
        total_bytes, done = (int(total) if total and total.isdigit() else None), 0
        try:
            out = open(into, "wb")
        except OSError as e:
            raise DownloadError(f"could not write {into.parent} ({e.strerror}); choose another --dest") from None
        with out:
            while True:
                try:
                    block = response.read(1 << 16)
                except (OSError, http.client.HTTPException) as e:  # a reset, a timeout, a short read
                    raise _network_error(url, e, hint) from None
                if not block:
                    break
                try:
                    out.write(block)
                except OSError as e:
                    raise DownloadError(f"could not write {into.parent} ({e.strerror}); choose another --dest") from None
                done += len(block)
                if progress:
                    progress(name or into.name, done, total_bytes)
    if total_bytes is not None and done < total_bytes:
        raise _offline(url, f"the connection closed after {done} of {total_bytes} bytes", hint)
    if progress and sys.stderr.isatty():
        sys.stderr.write("\n")
    digest = sha256_of(into)
    if digest != sha256:
        raise DownloadError(f"{url}: sha256 {digest} does not match the expected {sha256}; the source holds a different "
                            "or corrupted file. Nothing was installed.")


def download_files(target: Path, base_url: str, sums: Mapping[str, str] | Callable[[], Mapping[str, str]], force: bool = False,
                   progress: Progress | None = default_progress, hint: str = "", names: tuple[str, ...] = ()) -> Path:
    """Fetches each file named in ``sums`` (name -> sha256), or each of ``names`` with ``sums`` a callable giving
    their sums (called only when a file must be fetched), into ``target``, keeping those already there with the right
    sum (the given ones, or those recorded in the target's SHA256SUMS by an earlier download). Records published sums
    in the target's SHA256SUMS. ``base_url`` is checked only when something must be fetched.

    All or nothing: every file is fetched under a temporary name and checked first, and only then are they all
    moved into place; a failure leaves the target as it was (and no folder this call created)."""
    created = not target.exists()
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"could not create {target} ({e.strerror or e}); choose another --dest") from None
    pending: list[tuple[Path, Path]] = []  # (temporary, final)
    try:
        recorded = read_sums((target / SUMS).read_text()) if (target / SUMS).is_file() else {}
        known = dict(sums) if isinstance(sums, Mapping) else recorded
        names = tuple(sums) if isinstance(sums, Mapping) else tuple(names)
        kept = not force and all((target / n).is_file() and sha256_of(target / n) == known.get(n) for n in names)
        if not kept:
            base_url = as_base_url(base_url)
            published = sums if isinstance(sums, Mapping) else sums()
            expected = {n: published[n] for n in names}
            for name, digest in expected.items():
                if force or not (target / name).is_file() or sha256_of(target / name) != digest:
                    try:
                        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=target)
                    except OSError as e:
                        raise DownloadError(f"could not write {target} ({e.strerror}); choose another --dest") from None
                    os.close(fd)
                    pending.append((Path(tmp), target / name))
                    fetch(base_url + name, Path(tmp), digest, progress, hint, name)
            try:
                for tmp, final in pending:
                    os.chmod(tmp, 0o644)  # mkstemp makes 0600; the cache's files are for every user of it
                    os.replace(tmp, final)
                pending = []
            except OSError as e:
                raise DownloadError(f"could not write {target} ({e.strerror}); choose another --dest") from None
            known = expected
        if not isinstance(sums, Mapping):  # published sums: kept to check the files offline next time
            (target / SUMS).write_text("".join(f"{d}  {n}\n" for n, d in {**recorded, **known}.items()))
            os.chmod(target / SUMS, 0o644)
    except BaseException:
        for tmp, _ in pending:
            tmp.unlink(missing_ok=True)
        if created and target.is_dir() and not any(target.iterdir()):  # nothing installed: no empty folder left
            target.rmdir()
        raise
    return target


def download_dwpose(dest: str | os.PathLike[str] | None = None, base_url: str = DWPOSE_URL, force: bool = False,
                    progress: Progress | None = default_progress) -> Path:
    """DWPose's yolox_l.onnx and dw-ll_ucoco_384.onnx into ``dest`` (default: :func:`dwpose_dir`, where
    ``--detector dwpose`` finds them), each checked against the sha256 its source publishes (see the module)."""
    hint = ", or pass the detector your own files: --detector-option detector_model=... pose_model=..."
    return download_files(Path(dest) if dest is not None else dwpose_dir(), base_url,
                          lambda: published_sums(as_base_url(base_url), DWPOSE_FILES, hint), force, progress, hint,
                          names=DWPOSE_FILES)
