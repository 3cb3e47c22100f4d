"""Where a dataset's files are: a local copy, the user cache, or the publisher.

Resolution order for a dataset folder (e.g. ``hetrec2011-lastfm-2k``):

1. ``$KGREC_DATA_HOME/<folder>`` (a folder of local copies; CI points it at ``../shared/data``);
2. ``kgrec_home()/datasets/<folder>`` (the user cache, where downloads land);
3. a download from the publisher (a zip archive or one URL per file) when ``download=True``;
   every file is checked against its sha256 before it is used.

A folder counts as present when every required file is in it. When none is present and the download
is impossible (offline, refused, wrong checksum), :class:`DatasetNotFoundError` says exactly where to
put the files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from kgrec.config import data_home, kgrec_home
from kgrec.errors import DatasetNotFoundError

logger = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 60.0
_CHUNK = 1 << 20


@dataclass(frozen=True)
class FolderSpec:
    """One folder of dataset files and where they can be downloaded from.

    Args:
        folder: the folder's name under ``KGREC_DATA_HOME`` and the cache.
        files: required file (path relative to the folder) → its sha256.
        archive_url: a zip archive holding the files (matched by base name, at any depth).
        file_urls: file → its own URL, for publishers without an archive.
        homepage: where a person can get the files by hand.
    """

    folder: str
    files: dict[str, str]
    archive_url: str | None = None
    file_urls: dict[str, str] = field(default_factory=dict)
    homepage: str = ""

    @property
    def downloadable(self) -> bool:
        return self.archive_url is not None or set(self.file_urls) >= set(self.files)


def candidates(spec: FolderSpec) -> list[Path]:
    """The local folders searched, in order."""
    out = []
    home = data_home()
    if home is not None:
        out.append(home / spec.folder)
    out.append(kgrec_home() / "datasets" / spec.folder)
    return out


def is_complete(folder: Path, spec: FolderSpec) -> bool:
    return folder.is_dir() and all((folder / name).is_file() for name in spec.files)


def local_folder(spec: FolderSpec) -> Path | None:
    """The first local folder that holds every required file, or None (never downloads)."""
    for folder in candidates(spec):
        if is_complete(folder, spec):
            return folder
    return None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(folder: Path, spec: FolderSpec) -> None:
    """Check every required file against its sha256; raise DatasetNotFoundError on a mismatch."""
    for name, expected in spec.files.items():
        got = sha256_of(folder / name)
        if got != expected:
            raise DatasetNotFoundError(
                f"{folder / name}: sha256 {got} does not match the published {expected}; "
                f"the file is damaged or a different version: replace it with the one from {spec.homepage or 'the publisher'}")


def where_to_put(spec: FolderSpec) -> str:
    home = data_home()
    files = ", ".join(sorted(spec.files))
    places = [str(p) for p in candidates(spec)]
    lines = [f"dataset folder {spec.folder!r} not found: put the files {files} into "
             + " or ".join(places)]
    if home is None:
        lines.append("(or set KGREC_DATA_HOME to a folder that holds "
                     f"{spec.folder}/)")
    if spec.homepage:
        lines.append(f"the files come from {spec.homepage}")
    return "; ".join(lines)


def locate(spec: FolderSpec, *, download: bool = True, verify_local: bool = False,
           timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """The folder that holds ``spec``'s files: local, cached, or freshly downloaded.

    Args:
        spec: the folder and its files.
        download: fetch from the publisher when no local copy exists (default: ``True``).
        verify_local: also check the sha256 of local copies (downloads are always checked)
            (default: ``False``).
        timeout: seconds before a download attempt gives up (default: 60).

    Raises:
        DatasetNotFoundError: no local copy and no download (the message says where to put the files).
    """
    found = local_folder(spec)
    if found is not None:
        if verify_local:
            verify(found, spec)
        logger.debug("dataset folder %s found at %s", spec.folder, found)
        return found
    message = where_to_put(spec)
    if not download:
        raise DatasetNotFoundError(message + " (download=False)")
    if not spec.downloadable:
        raise DatasetNotFoundError(message + " (no download source is known for it)")
    target = kgrec_home() / "datasets" / spec.folder
    try:
        return fetch(spec, target, timeout=timeout)
    except DatasetNotFoundError as e:
        raise DatasetNotFoundError(f"{message}; the download failed: {e}") from e


def fetch(spec: FolderSpec, target: Path, *, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Download ``spec``'s files into ``target``, verify each sha256, then move them into place.

    Nothing is left in ``target`` unless every file arrived and matched its checksum.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.folder}.", dir=target.parent))
    try:
        if spec.archive_url is not None:
            archive = staging / "_archive.zip"
            _download(spec.archive_url, archive, timeout=timeout)
            _extract(archive, staging, spec)
            archive.unlink()
        else:
            for name in spec.files:
                dest = staging / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                _download(spec.file_urls[name], dest, timeout=timeout)
        verify(staging, spec)
        target.mkdir(parents=True, exist_ok=True)
        for name in spec.files:
            dest = target / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / name, dest)
        logger.info("downloaded %s into %s", spec.folder, target)
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _download(url: str, dest: Path, *, timeout: float) -> None:
    logger.info("downloading %s", url)
    request = urllib.request.Request(url, headers={"User-Agent": "kgrec (+https://pypi.org/project/kgrec)"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, dest.open("wb") as out:
            shutil.copyfileobj(response, out, _CHUNK)
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise DatasetNotFoundError(f"cannot download {url}: {reason}") from e


def _extract(archive: Path, staging: Path, spec: FolderSpec) -> None:
    """Copy the required files out of the zip, matched by base name (no other member is written)."""
    wanted = {Path(name).name: name for name in spec.files}
    try:
        with zipfile.ZipFile(archive) as zf:
            members = {Path(info.filename).name: info for info in zf.infolist() if not info.is_dir()}
            for base, name in wanted.items():
                info = members.get(base)
                if info is None:
                    raise DatasetNotFoundError(f"{spec.archive_url}: the archive has no file {base!r}")
                dest = staging / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, dest.open("wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
    except zipfile.BadZipFile as e:
        raise DatasetNotFoundError(f"{spec.archive_url}: not a zip archive: {e}") from e


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: its folders and what a person should know before using it."""

    name: str
    description: str
    license: str
    folders: tuple[FolderSpec, ...]
    aliases: tuple[str, ...] = ()

    def local_root(self) -> Path | None:
        """The folder that holds every one of this dataset's folders locally, or None."""
        roots = [local_folder(spec) for spec in self.folders]
        if any(r is None for r in roots):
            return None
        parents = {r.parent for r in roots}
        return parents.pop() if len(parents) == 1 else roots[0].parent

    def files(self) -> tuple[str, ...]:
        return tuple(f"{spec.folder}/{name}" for spec in self.folders for name in spec.files)
