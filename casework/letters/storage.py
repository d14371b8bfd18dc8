"""Content-addressed storage for issued PDFs (and the letterhead logo, letter template sets and print runs):
`<sha[:2]>/<sha><suffix>` under `casework.config.storage_dir()`, `.pdf` unless another suffix is given.

A stored file is never changed: the same SHA-256 means the same bytes, so storing again is a no-op, and a file
whose bytes no longer match its name is reported rather than silently replaced.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from casework.config import storage_dir


# Files people upload (evidence, a request's documents): what each may be, and the suffix it is stored with
UPLOAD_SUFFIX = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}


def sniff(data: bytes) -> str | None:
    """The media type of an uploaded file from its first bytes (never its name or the browser's word), or None
    when it is not one of UPLOAD_SUFFIX's."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    return None


class StorageError(RuntimeError):
    """A stored file is missing, outside the store, or no longer matches its hash."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _resolve(path: str) -> Path:
    root = storage_dir()
    full = (root / path).resolve()
    if not full.is_relative_to(root):
        raise StorageError(f"path {path!r} is outside the file store")
    return full


def store(data: bytes, suffix: str = ".pdf") -> tuple[str, str]:
    """Write `data` once; returns (sha256 hex, path relative to the store)."""
    sha = _sha256(data)
    relative = f"{sha[:2]}/{sha}{suffix}"
    target = _resolve(relative)
    if target.exists():
        if _sha256(target.read_bytes()) != sha:
            raise StorageError(f"{relative} exists with different content; refusing to overwrite it")
        return sha, relative
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{sha[:12]}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o444)
        try:
            # link() never replaces an existing file: a concurrent writer of the same bytes simply wins.
            os.link(tmp, target)
        except FileExistsError:
            pass
        except OSError:
            os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return sha, relative


def load(path: str) -> bytes:
    """The bytes stored at `path` (relative to the store)."""
    full = _resolve(path)
    if not full.is_file():
        raise StorageError(f"no stored file at {path!r}")
    return full.read_bytes()


def load_verified(path: str, sha256: str) -> bytes:
    """The bytes stored at `path`, which must still have this SHA-256."""
    data = load(path)
    if _sha256(data) != sha256.lower():
        raise StorageError(f"{path} no longer matches its SHA-256: the stored file has been altered")
    return data


def verify(path: str, sha256: str) -> bool:
    """True when the file at `path` exists and its SHA-256 is `sha256`."""
    try:
        return _sha256(load(path)) == sha256.lower()
    except StorageError:
        return False
