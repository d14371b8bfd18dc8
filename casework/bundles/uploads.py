"""Documents attached to a case as evidence: PDF, PNG or JPEG only, judged by their content, size-limited.

The file is stored as uploaded, and beside it the A4 PDF the bundle merges: PDF pages scaled to fit A4 in their own
orientation (rotation applied), with links, actions and other annotations removed and images above 300 dpi
downsampled; an image becomes one A4 page, downsampled to at most 300 dpi at the size it is printed.
"""
from __future__ import annotations

import base64
import hashlib
import io

from sqlmodel import Session, select

from .. import clock
from ..letters import storage
from ..models import EvidenceDocument
from ..services.audit import audit
from ..services.errors import BadInput
from .assemble import A4, STORED_PAGE_KEYS
from .render import Renderer, render_html
from .versions import VIEW_ROLES, case_for

MAX_BYTES = 20 * 1024 * 1024
MAX_PAGES = 300
MAX_TITLE = 200
DPI = 300
IMAGE_AREA_MM = (170, 245)  # the printable area of an image page (bundle.css .image-page img)
DECODE_LIMIT = 320_000_000  # bytes an image of an uploaded PDF may decode to (an A3 page scanned at 600 dpi: 210 MB)
SUFFIX = storage.UPLOAD_SUFFIX
KIND_WORDS = {"application/pdf": "PDF", "image/png": "PNG image", "image/jpeg": "JPEG image"}


def media_type(data: bytes) -> str:
    """What the file is, from its first bytes (never from its name or the browser's word for it)."""
    kind = storage.sniff(data)
    if kind:
        return kind
    raise BadInput("The file must be a PDF, a PNG image or a JPEG image")


def check_title(title: str) -> str:
    title = " ".join((title or "").split())
    if not title:
        raise BadInput("Enter a title for the document")
    if len(title) > MAX_TITLE:
        raise BadInput(f"The title must be {MAX_TITLE} characters or fewer")
    return title


def check_size(size: int) -> None:
    if size == 0:
        raise BadInput("The selected file is empty")
    if size > MAX_BYTES:
        raise BadInput(f"The file must be smaller than {MAX_BYTES // (1024 * 1024)} MB")


def add(session: Session, ref: str, actor_email: str, title: str, filename: str, data: bytes) -> EvidenceDocument:
    """Check, convert and store an uploaded file, and attach it to the case (AEOs, legal officers, managers)."""
    case, user = case_for(session, ref, actor_email, VIEW_ROLES, "add evidence to cases")
    title = check_title(title)
    check_size(len(data))
    kind = media_type(data)
    sha = hashlib.sha256(data).hexdigest()
    same = session.exec(select(EvidenceDocument).where(EvidenceDocument.case_id == case.id,
                                                       EvidenceDocument.sha256 == sha,
                                                       EvidenceDocument.withdrawn_at.is_(None))).first()
    if same is not None:
        raise BadInput(f"This file is already attached to the case as “{same.title}”")
    pdf, pages = bundle_pdf(data, kind, title, case.ref)
    sha, path = storage.store(data, SUFFIX[kind])
    pdf_sha, pdf_path = storage.store(pdf)
    row = EvidenceDocument(case_id=case.id, title=title, filename=(filename or "")[:255], media_type=kind,
                           size=len(data), sha256=sha, path=path, pdf_sha256=pdf_sha, pdf_path=pdf_path, pages=pages,
                           uploaded_at=clock.now(), uploaded_by=user.email)
    session.add(row)
    session.flush()
    audit(session, user.email, "create", "evidence", f"{case.ref}/{row.id}",
          {"title": title, "sha256": sha, "media_type": kind, "bytes": len(data), "pages": pages})
    return row


def listed(session: Session, case_id: int) -> list[EvidenceDocument]:
    """The case's documents still attached, oldest first."""
    return list(session.exec(select(EvidenceDocument).where(EvidenceDocument.case_id == case_id,
                                                            EvidenceDocument.withdrawn_at.is_(None))
                             .order_by(EvidenceDocument.id)).all())


def get(session: Session, ref: str, document_id: int, actor_email: str) -> tuple[EvidenceDocument, bytes]:
    """An attached document as uploaded (hash-checked), the read audited."""
    case, user = case_for(session, ref, actor_email, VIEW_ROLES, "see evidence")
    row = session.get(EvidenceDocument, document_id)
    if row is None or row.case_id != case.id:
        raise BadInput(f"case {ref} has no document {document_id}")
    try:
        data = storage.load_verified(row.path, row.sha256)
    except storage.StorageError as exc:
        raise BadInput(f"document {document_id}: {exc}") from None
    audit(session, user.email, "export", "evidence", f"{ref}/{row.id}", {"sha256": row.sha256})
    return row, data


def withdraw(session: Session, ref: str, document_id: int, actor_email: str) -> tuple[EvidenceDocument, bool]:
    """Leave a document out of bundles built from now on; (the document, whether this call withdrew it). A served
    version keeps its pages: later versions list it as no longer current."""
    case, user = case_for(session, ref, actor_email, VIEW_ROLES, "withdraw evidence")
    row = session.get(EvidenceDocument, document_id)
    if row is None or row.case_id != case.id:
        raise BadInput(f"case {ref} has no document {document_id}")
    if row.withdrawn_at is not None:
        return row, False
    row.withdrawn_at, row.withdrawn_by = clock.now(), user.email
    session.add(row)
    audit(session, user.email, "update", "evidence", f"{ref}/{row.id}", {"withdrawn": True})
    session.flush()
    return row, True


# ---------------------------------------------------------------- the A4 PDF a bundle merges

def bundle_pdf(data: bytes, kind: str, title: str, case_ref: str) -> tuple[bytes, int]:
    """The upload as A4 pages; BadInput when it cannot be read."""
    if kind == "application/pdf":
        return _pdf_pages(data)
    return _image_page(data, kind, title, case_ref), 1


def _pdf_pages(data: bytes) -> tuple[bytes, int]:
    from pypdf import PdfReader, PdfWriter

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise BadInput("The PDF is protected by a password: upload a copy without one")
        count = len(reader.pages)
        if count == 0:
            raise BadInput("The PDF has no pages")
        if count > MAX_PAGES:
            raise BadInput(f"The PDF has {count} pages; a document may have at most {MAX_PAGES}")
        writer = PdfWriter()
        for page in reader.pages:
            added = writer.add_page(page, excluded_keys=STORED_PAGE_KEYS)
            _fit_a4(added)
            _downsample(added)
        buffer = io.BytesIO()
        writer.write(buffer)
    except BadInput:
        raise
    except Exception:  # noqa: BLE001  (pypdf raises many kinds of error on damaged files)
        raise BadInput("The PDF could not be read: it may be damaged") from None
    return buffer.getvalue(), count


def _fit_a4(page) -> None:
    """Scale the page's visible area to fit A4 in its own orientation, centred."""
    from pypdf import Transformation
    from pypdf.generic import RectangleObject

    page.transfer_rotation_to_content()
    box = page.cropbox
    width, height = float(box.width), float(box.height)
    target = A4 if height >= width else (A4[1], A4[0])
    left, bottom = float(box.left), float(box.bottom)
    if abs(width - target[0]) > 1 or abs(height - target[1]) > 1 or left or bottom:
        scale = min(target[0] / width, target[1] / height)
        page.add_transformation(Transformation().scale(scale, scale).translate(
            (target[0] - width * scale) / 2 - left * scale, (target[1] - height * scale) / 2 - bottom * scale))
    for name in ("/MediaBox", "/CropBox"):
        page[_name(name)] = RectangleObject([0, 0, *target])
    for name in ("/TrimBox", "/BleedBox", "/ArtBox"):
        page.pop(name, None)


def _name(text: str):
    from pypdf.generic import NameObject

    return NameObject(text)


def _downsample(page) -> None:
    """Images with more pixels than 300 dpi across the whole page are scaled down. Left as they are: images inside
    forms, images pypdf cannot decode (JBIG2, for one), and images that would decode to more than DECODE_LIMIT."""
    from pypdf import apply_configuration

    with apply_configuration(image_maximum_buffer_size=DECODE_LIMIT):
        _downsample_images(page)


def _downsample_images(page) -> None:
    resources = page.get("/Resources")
    xobjects = resources.get_object().get("/XObject") if resources is not None else None
    if xobjects is None:
        return
    limit = max(float(page.mediabox.width), float(page.mediabox.height)) / 72 * DPI
    for name, ref in xobjects.get_object().items():
        image = ref.get_object()
        if image.get("/Subtype") != "/Image" or max(int(image.get("/Width", 0)), int(image.get("/Height", 0))) <= limit:
            continue
        try:
            found = page.images[name]
            picture = found.image
            picture.thumbnail((int(limit), int(limit)))
            found.replace(picture, quality=85)
        except Exception:  # noqa: BLE001  (an encoding pypdf cannot decode, e.g. JBIG2: kept as it is)
            continue


def _image_page(data: bytes, kind: str, title: str, case_ref: str) -> bytes:
    """One A4 page holding the image, at most 300 dpi at its printed size."""
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()
        picture = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
        picture.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise BadInput(f"The {KIND_WORDS[kind]} could not be read: it may be damaged") from None
    most = tuple(int(mm / 25.4 * DPI) for mm in IMAGE_AREA_MM)
    fmt = "JPEG" if kind == "image/jpeg" else "PNG"
    if picture.width > most[0] or picture.height > most[1] or picture.mode not in ("RGB", "L"):
        picture.thumbnail(most)
        if picture.mode not in ("RGB", "L"):
            flat = Image.new("RGB", picture.size, "white")
            flat.paste(picture, mask=picture.getchannel("A") if "A" in picture.getbands() else None)
            picture = flat
        buffer = io.BytesIO()
        picture.save(buffer, fmt, **({"quality": 88} if fmt == "JPEG" else {"optimize": True}))
        data = buffer.getvalue()
    src = f"data:{kind};base64,{base64.b64encode(data).decode()}"
    renderer = Renderer()
    return renderer.write([renderer.layout(render_html("image", {"title": title, "src": src, "case_ref": case_ref}))])
