"""Evidence files a school uploads with a request: PDF, PNG or JPEG only (judged by their content, not their name),
no larger than the code of conduct allows, kept in the content-addressed file store."""
from __future__ import annotations

import io
from dataclasses import dataclass

from ..letters import storage

MAX_PDF_PAGES = 200


@dataclass(frozen=True)
class Upload:
    """A file as the school sent it."""

    filename: str
    data: bytes


def _readable(media_type: str, data: bytes) -> bool:
    """Whether the file opens as what it claims to be (a truncated or disguised file does not)."""
    try:
        if media_type == "application/pdf":
            from pypdf import PdfReader

            pages = len(PdfReader(io.BytesIO(data)).pages)
            return 0 < pages <= MAX_PDF_PAGES
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            return Image.MIME.get(image.format) == media_type
    except Exception:  # pypdf and Pillow raise many types on malformed files
        return False


def upload_problem(upload: Upload, max_bytes: int, label: str) -> str | None:
    """Why this file cannot be accepted as evidence, or None."""
    name = upload.filename or "the file"
    if not upload.data:
        return f"{label}: {name} is empty"
    if len(upload.data) > max_bytes:
        return f"{label}: {name} is larger than {max_bytes // (1024 * 1024)} MB"
    media_type = storage.sniff(upload.data)
    if media_type is None or not _readable(media_type, upload.data):
        return f"{label}: {name} must be a PDF, PNG or JPEG file"
    return None


@dataclass(frozen=True)
class Stored:
    filename: str
    media_type: str
    size: int
    sha256: str
    path: str


def store(upload: Upload) -> Stored:
    """Keep a checked upload in the file store."""
    sha, path = storage.store(upload.data)
    return Stored(safe_filename(upload.filename), storage.sniff(upload.data) or "", len(upload.data), sha, path)


def safe_filename(name: str) -> str:
    """The file's own name without any folders or characters that could break a download header."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isalnum() or ch in " ._-()")
    return cleaned.strip()[:120] or "evidence"
