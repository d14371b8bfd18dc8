"""The administration pages: users, schools, feed tokens and authority settings, as an admin uses them; everyone else
is refused. Each test works on committed data in the module's own database."""
from __future__ import annotations

import html
import io
import json
import re
from dataclasses import dataclass

import pytest
from PIL import Image
from sqlalchemy import update
from sqlmodel import Session, select

from casework.db import get_engine
from casework.letters import storage
from casework.models import ApiToken, AuditLog, School, User
from casework.services import users as user_service
from casework.services.settings import DEFAULTS, authority_settings

from .factories import PASSWORD, make_pupil, make_school, make_user
from .web_support import audited, error_summary, page, signed_in

ADMIN_PAGES = ["/admin/users", "/admin/users/new", "/admin/users/{user_id}", "/admin/schools",
               "/admin/schools/{school_id}", "/admin/tokens", "/admin/settings"]


@dataclass
class AdminWorld:
    admin: str
    admin_id: int
    aeo: str
    aeo_id: int
    school_id: int
    school_urn: str
    other_school_urn: str
    others: dict  # role → email, for the roles that may not use these pages


@pytest.fixture(scope="module")
def world(app, pages_url) -> AdminWorld:
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        school = make_school(session, name="Riverside Primary")
        other = make_school(session, name="Hilltop Primary")
        for forename in ("Ava", "Ben"):
            make_pupil(session, school, forename=forename)
        admin = make_user(session, "admin")
        aeo = make_user(session, "aeo")
        others = {role: make_user(session, role).email for role in ("manager", "legal")}
        others["school"] = make_user(session, "school", schools=[school]).email
        session.commit()
    return AdminWorld(admin.email, admin.id, aeo.email, aeo.id, school.id, school.urn, other.urn,
                      {"aeo": aeo.email, **others})


@pytest.fixture(scope="module")
def admin(app, world):
    return signed_in(app, world.admin)


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def post_form(client, url: str, data: dict, files: dict | None = None):
    """GET the page, then POST `data` with its CSRF token and (when the page has one) its form's one-time id."""
    html = client.get(url).get_data(as_text=True)
    fields = {"csrf_token": csrf(html), **data}
    once = re.search(r'name="request_id" value="([^"]+)"', html)
    if once and "request_id" not in data:
        fields["request_id"] = once.group(1)
    if files:
        fields.update(files)
        return client.post(url, data=fields, content_type="multipart/form-data")
    return client.post(url, data=fields)


def sign_in_as(app, email: str, password: str):
    """A client and the sign-in answer (302 when signed in, 200 with the refusal otherwise)."""
    client = app.test_client()
    answer = client.post("/sign-in", data={"email": email, "password": password,
                                           "csrf_token": csrf(client.get("/sign-in").get_data(as_text=True))})
    return client, answer


def user_row(pages_url, email: str) -> User | None:
    with Session(get_engine(pages_url)) as session:
        return session.exec(select(User).where(User.email == email)).first()


def audit_details(pages_url, actor: str, object_type: str, ref: str) -> list[dict]:
    with Session(get_engine(pages_url)) as session:
        return [json.loads(detail) for detail in session.exec(select(AuditLog.detail).where(
            AuditLog.user_email == actor, AuditLog.object_type == object_type, AuditLog.object_ref == ref)
            .order_by(AuditLog.id))]


def problems(answer) -> list[tuple[str, str]]:
    """The error summary's (link, message) pairs, as the reader sees them."""
    return [(href, html.unescape(text)) for href, text in error_summary(answer.get_data(as_text=True))]


def shown_secret(html: str, field_id: str) -> str:
    return re.search(rf'id="{field_id}" type="text"\s+value="([^"]+)"', html).group(1)


# ---- every page: admins only

def test_every_admin_page_renders_for_admins_and_is_forbidden_to_every_other_role(app, world, admin):
    urls = [url.format(user_id=world.aeo_id, school_id=world.school_id) for url in ADMIN_PAGES]
    for url in urls:
        assert page(admin, url).words
    for role, email in world.others.items():
        client = signed_in(app, email)
        for url in urls + ["/admin/settings/logo"]:
            assert client.get(url).status_code == 403, (role, url)
    assert app.test_client().get("/admin/users").status_code == 302
    assert admin.get("/admin/users/999999").status_code == 404 and admin.get("/admin/schools/999999").status_code == 404


def test_the_user_list_filters_by_role_and_search(world, admin):
    words = page(admin, "/admin/users?role=aeo").words
    assert world.aeo in words and world.admin not in words
    words = page(admin, f"/admin/users?q={world.admin.split('@')[0]}").words
    assert world.admin in words and world.aeo not in words
    assert "Riverside Primary" in page(admin, "/admin/users?role=school").words


# ---- adding users

def test_a_school_user_added_with_a_school_signs_in_with_the_password_shown_once(app, world, admin, pages_url):
    answer = post_form(admin, "/admin/users/new", {"email": "Lead@Riverside.example.org", "name": "Rita Lead",
                                                   "role": "school", "schools": world.school_urn})
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    password = shown_secret(html, "shown-password")
    assert "shown only once" in html and len(password) >= user_service.MIN_PASSWORD_LENGTH
    client, signed = sign_in_as(app, "lead@riverside.example.org", password)
    assert signed.status_code == 302
    assert client.get("/account/password").status_code == 200
    assert client.get("/school").headers["Location"] == "/account/password", "their own password first"
    assert "lead@riverside.example.org" in audited(pages_url, world.admin, "create", "user")
    assert audit_details(pages_url, world.admin, "user", "lead@riverside.example.org")[0]["schools"] == [
        world.school_urn]
    user_page = page(admin, f"/admin/users/{user_row(pages_url, 'lead@riverside.example.org').id}").words
    assert password not in user_page and "Riverside Primary" in user_page


def test_an_admin_may_set_the_first_password_which_must_meet_the_rules(app, admin, pages_url):
    short = post_form(admin, "/admin/users/new", {"email": "short@example.org", "name": "Sam Short", "role": "aeo",
                                                  "password": "tiny"})
    assert ("#password", f"The password must be at least {user_service.MIN_PASSWORD_LENGTH} characters") in \
        problems(short)
    assert user_row(pages_url, "short@example.org") is None
    chosen = post_form(admin, "/admin/users/new", {"email": "set@example.org", "name": "Sal Set", "role": "legal",
                                                   "password": "a long chosen password"})
    assert chosen.status_code == 200 and "a long chosen password" not in chosen.get_data(as_text=True)
    assert sign_in_as(app, "set@example.org", "a long chosen password")[1].status_code == 302


def test_a_school_user_without_a_school_is_refused_and_nothing_is_added(admin, pages_url):
    answer = post_form(admin, "/admin/users/new", {"email": "noschool@example.org", "name": "No School",
                                                   "role": "school", "schools": ""})
    assert answer.status_code == 200
    assert problems(answer) == [("#schools", "A school user needs at least one school")]
    assert user_row(pages_url, "noschool@example.org") is None


def test_every_problem_with_a_new_user_is_shown_at_once_and_linked_to_its_field(admin, world):
    answer = post_form(admin, "/admin/users/new", {"email": "not an email", "name": " ", "role": "legal",
                                                   "schools": world.school_urn})
    assert problems(answer) == [
        ("#email", "Enter an email address in the correct format, like name@example.org"),
        ("#name", "Enter the user's name"),
        ("#schools", "Only school users and AEOs have schools: remove the URNs")]
    unknown = post_form(admin, "/admin/users/new", {"email": "x@example.org", "name": "X", "role": "school",
                                                    "schools": "999999"})
    assert ("#schools", "No school has the URN 999999") in problems(unknown)


def test_a_duplicate_email_is_refused(admin, world):
    answer = post_form(admin, "/admin/users/new", {"email": world.aeo.upper(), "name": "Again", "role": "aeo"})
    assert problems(answer) == [("#email", "A user with this email address already exists")]


def test_the_same_add_user_form_posted_twice_adds_the_user_once(admin, world, pages_url):
    html = admin.get("/admin/users/new").get_data(as_text=True)
    once = re.search(r'name="request_id" value="([^"]+)"', html).group(1)
    data = {"csrf_token": csrf(html), "request_id": once, "email": "twice@example.org", "name": "Tess Twice",
            "role": "manager"}
    assert admin.post("/admin/users/new", data=data).status_code == 200
    again = admin.post("/admin/users/new", data=data)
    assert again.status_code == 302 and "q=twice@example.org" in again.headers["Location"]
    assert "was added already" in admin.get(again.headers["Location"]).get_data(as_text=True)
    assert audited(pages_url, world.admin, "create", "user").count("twice@example.org") == 1


# ---- one user: details, deactivation, lock, password

def test_changing_role_and_schools_is_saved_and_audited(app, admin, world, pages_url):
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        user = make_user(session, "aeo", email="mover@example.org")
        session.commit()
    url = f"/admin/users/{user.id}"
    refused = post_form(admin, url, {"action": "details", "name": "Mo Ver", "role": "school", "schools": ""})
    assert problems(refused) == [("#schools", "A school user needs at least one school")]
    assert user_row(pages_url, "mover@example.org").role == "aeo"
    saved = post_form(admin, url, {"action": "details", "name": "Mo Ver", "role": "school",
                                   "schools": f"{world.school_urn}, {world.other_school_urn}"})
    assert saved.status_code == 302
    words = page(admin, url).words
    assert "Changes saved" in words and "Hilltop Primary" in words and "Riverside Primary" in words
    assert user_row(pages_url, "mover@example.org").role == "school"
    assert audit_details(pages_url, world.admin, "user", "mover@example.org")[-1] == {
        "name": "Mo Ver", "role": "school", "schools": sorted([world.school_urn, world.other_school_urn])}
    again = post_form(admin, url, {"action": "details", "name": "Mo Ver", "role": "school",
                                   "schools": f"{world.other_school_urn} {world.school_urn}"})
    assert "Nothing was changed" in admin.get(again.headers["Location"]).get_data(as_text=True)
    assert len(audit_details(pages_url, world.admin, "user", "mover@example.org")) == 1


def test_a_deactivated_user_can_no_longer_sign_in_until_reactivated(app, admin, world, pages_url):
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        user = make_user(session, "aeo", email="leaver@example.org")
        session.commit()
    leaver = signed_in(app, user.email)
    assert leaver.get("/account/password").status_code == 200
    answer = post_form(admin, f"/admin/users/{user.id}", {"action": "deactivate"})
    assert answer.status_code == 302
    assert "can no longer sign in" in page(admin, answer.headers["Location"]).words
    assert leaver.get("/account/password").status_code == 302, "signed out at once"
    refused = sign_in_as(app, user.email, PASSWORD)[1]
    assert refused.status_code == 200 and "The email address or password is not right" in refused.get_data(as_text=True)
    assert "Deactivated" in page(admin, "/admin/users?q=leaver").words
    post_form(admin, f"/admin/users/{user.id}", {"action": "reactivate"})
    assert sign_in_as(app, user.email, PASSWORD)[1].status_code == 302
    assert [d.get("active") for d in audit_details(pages_url, world.admin, "user", user.email)] == [False, True]


def test_an_admin_cannot_deactivate_themselves_nor_remove_their_own_admin_role(admin, world, pages_url):
    url = f"/admin/users/{world.admin_id}"
    assert "You cannot reset your own password or deactivate yourself here" in page(admin, url).words
    answer = post_form(admin, url, {"action": "deactivate"})
    assert answer.status_code == 200
    assert problems(answer) == [("#status-button",
                                                             "You cannot deactivate your own account")]
    demoted = post_form(admin, url, {"action": "details", "name": "Boss", "role": "manager", "schools": ""})
    assert problems(demoted) == [
        ("#role", "You cannot remove the administrator role from your own account")]
    assert post_form(admin, url, {"action": "password"}).status_code == 200
    row = user_row(pages_url, world.admin)
    assert row.active and row.role == "admin" and user_service.verify_password(row, PASSWORD)


def test_the_last_active_admin_cannot_be_deactivated_or_demoted(session):
    session.exec(update(User).where(User.role == "admin").values(active=False))
    last = make_user(session, "admin", email="last-admin@example.org")
    other = make_user(session, "admin", email="other-admin@example.org")
    assert user_service.set_active(session, other.id, False, "cli") is True
    with pytest.raises(user_service.InvalidUser, match="You cannot deactivate the last active administrator"):
        user_service.set_active(session, last.id, False, "cli")
    with pytest.raises(user_service.InvalidUser, match="remove the administrator role from the last active"):
        user_service.update_user(session, last.id, name="Last", role="manager", school_urns=[], actor="cli")
    assert session.get(User, last.id).active and session.get(User, last.id).role == "admin"
    assert user_service.set_active(session, other.id, True, "cli") is True
    assert user_service.set_active(session, last.id, False, other.email) is True, "with another admin, it may"


def test_unlock_and_password_reset(app, admin, world, pages_url):
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        user = make_user(session, "legal", email="forgetful@example.org")
        session.commit()
    for _ in range(user_service.MAX_FAILED_SIGN_INS):
        sign_in_as(app, user.email, "not the password")
    url = f"/admin/users/{user.id}"
    assert "Locked until 23 Nov 2026 09:15" in page(admin, url).words
    assert "locked" in sign_in_as(app, user.email, PASSWORD)[1].get_data(as_text=True)
    unlocked = post_form(admin, url, {"action": "unlock"})
    assert "can sign in again" in page(admin, unlocked.headers["Location"]).words
    assert sign_in_as(app, user.email, PASSWORD)[1].status_code == 302
    reset = post_form(admin, url, {"action": "password"})
    assert reset.status_code == 200
    password = shown_secret(reset.get_data(as_text=True), "shown-password")
    assert sign_in_as(app, user.email, PASSWORD)[1].status_code == 200, "the old password no longer works"
    assert sign_in_as(app, user.email, password)[1].status_code == 302
    short = post_form(admin, url, {"action": "password", "password": "short"})
    assert problems(short) == [
        ("#password", f"The password must be at least {user_service.MIN_PASSWORD_LENGTH} characters")]
    changes = audit_details(pages_url, world.admin, "user", user.email)
    assert changes[0] == {"unlocked": True} and changes[1]["changed"] == "password" and len(changes) == 2


def test_a_password_reset_posted_twice_resets_once(admin, world, pages_url):
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        user = make_user(session, "aeo", email="double@example.org")
        session.commit()
    url = f"/admin/users/{user.id}"
    html = admin.get(url).get_data(as_text=True)
    data = {"csrf_token": csrf(html), "action": "password",
            "request_id": re.search(r'name="request_id" value="([^"]+)"', html).group(1)}
    first = admin.post(url, data=data)
    password = shown_secret(first.get_data(as_text=True), "shown-password")
    assert admin.post(url, data=data).status_code == 302
    assert user_service.verify_password(user_row(pages_url, user.email), password)
    assert len(audit_details(pages_url, world.admin, "user", user.email)) == 1


# ---- schools

def test_the_school_list_shows_pupils_on_roll_and_live_tokens(admin, world):
    words = page(admin, "/admin/schools?q=riverside").words
    assert f"{world.school_urn} Riverside Primary Primary No 2" in words and "Hilltop" not in words
    assert "Hilltop Primary" in page(admin, f"/admin/schools?q={world.other_school_urn}").words


def test_editing_a_school_is_checked_saved_and_audited_and_its_urn_stays(admin, world, pages_url):
    with Session(get_engine(pages_url), expire_on_commit=False) as session:
        school = make_school(session, name="Old Name Academy")
        session.commit()
    url = f"/admin/schools/{school.id}"
    refused = post_form(admin, url, {"name": "  ", "phase": "primary", "independent": "no"})
    assert problems(refused) == [("#name", "Enter the school's name")]
    saved = post_form(admin, url, {"name": "St Mary's  School", "phase": "secondary", "independent": "yes",
                                   "urn": "123456"})
    assert saved.status_code == 302
    assert "St Mary's School saved" in page(admin, url).words
    with Session(get_engine(pages_url)) as session:
        row = session.get(School, school.id)
        assert (row.urn, row.name, row.phase, row.independent) == (school.urn, "St Mary's School", "secondary", True)
    assert audit_details(pages_url, world.admin, "school", school.urn) == [
        {"name": "St Mary's School", "phase": "secondary", "independent": True}]
    assert "Yes: no penalty notices" in page(admin, f"/admin/schools?q={school.urn}").words


# ---- feed tokens

def test_a_token_is_shown_once_works_on_the_feed_and_stops_when_revoked(app, admin, world, pages_url):
    issued = post_form(admin, "/admin/tokens", {"action": "issue", "school": world.school_urn, "label": "Arbor"})
    assert issued.status_code == 200
    html = issued.get_data(as_text=True)
    token = shown_secret(html, "token")
    assert token.startswith("cwf_") and "shown only this once" in html
    feed = app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    assert feed.get("/api/v1/school", headers=bearer).status_code == 200
    listing = admin.get("/admin/tokens").get_data(as_text=True)
    prefix = token[:12]
    assert token not in listing and token[12:20] not in listing and prefix in listing
    assert f"{prefix}… Riverside Primary ({world.school_urn}) Arbor 23 Nov 2026 09:00 by {world.admin} " \
           f"23 Nov 2026 09:00 Live" in page(admin, f"/admin/tokens?school={world.school_urn}").words
    revoked = post_form(admin, "/admin/tokens", {"action": "revoke", "prefix": prefix})
    assert revoked.status_code == 302
    assert f"Token {prefix} is revoked" in page(admin, "/admin/tokens").words
    assert feed.get("/api/v1/school", headers=bearer).status_code == 401
    assert audited(pages_url, world.admin, "create", "api_token") == [prefix]
    assert audited(pages_url, world.admin, "update", "api_token") == [prefix]
    again = post_form(admin, "/admin/tokens", {"action": "revoke", "prefix": prefix})
    assert "already revoked" in admin.get(again.headers["Location"]).get_data(as_text=True)


def test_issuing_a_token_needs_a_school_and_the_same_form_posted_twice_issues_one(admin, world, pages_url):
    refused = post_form(admin, "/admin/tokens", {"action": "issue", "school": "", "label": ""})
    assert problems(refused) == [
        ("#school", "Choose the school whose system will use the token")]
    html = admin.get("/admin/tokens").get_data(as_text=True)
    data = {"csrf_token": csrf(html), "action": "issue", "school": world.other_school_urn, "label": "",
            "request_id": re.search(r'name="request_id" value="([^"]+)"', html).group(1)}
    assert admin.post("/admin/tokens", data=data).status_code == 200
    assert admin.post("/admin/tokens", data=data).status_code == 302
    with Session(get_engine(pages_url)) as session:
        other = session.exec(select(School.id).where(School.urn == world.other_school_urn)).one()
        assert len(session.exec(select(ApiToken).where(ApiToken.school_id == other)).all()) == 1


# ---- authority settings and the logo

def settings_form(**changes) -> dict:
    values = {"action": "settings", "authority_name": DEFAULTS["authority_name"],
              "address_lines": "County Hall\nMartineau Lane\nNorwich", "address_postcode": "NR1 2DH",
              "authority_phone": DEFAULTS["authority_phone"], "authority_email": DEFAULTS["authority_email"],
              "authority_website": DEFAULTS["authority_website"], "signatory_name": DEFAULTS["signatory_name"],
              "signatory_title": DEFAULTS["signatory_title"], "payee_name": DEFAULTS["payee_name"],
              "payee_address_lines": "Penalty Notice Team\nCounty Hall\nMartineau Lane\nNorwich",
              "payee_postcode": "NR1 2DH", "payment_methods": DEFAULTS["payment_methods"],
              "payment_reference_hint": DEFAULTS["payment_reference_hint"]}
    return {**values, **changes}


def stored_settings(pages_url) -> dict:
    with Session(get_engine(pages_url)) as session:
        return authority_settings(session)


def test_settings_are_checked_and_nothing_is_half_saved(admin, pages_url):
    before = stored_settings(pages_url)
    answer = post_form(admin, "/admin/settings", settings_form(authority_name="", address_postcode="NR1 XYZ",
                                                               authority_phone="0300 123 4567"))
    assert problems(answer) == [
        ("#authority_name", "Enter the authority's name"),
        ("#address_postcode", "Enter a real UK postcode, like NR1 2DH")]
    assert stored_settings(pages_url) == before


def test_settings_are_saved_tidied_and_audited(admin, world, pages_url):
    answer = post_form(admin, "/admin/settings", settings_form(
        authority_name="Wessex Council", address_postcode="so23 8ur", authority_phone="0300 123 4567",
        payment_methods="Online at www.wessex.example.gov.uk/pay\n\n  By phone on 0300 123 4567  "))
    assert answer.status_code == 302
    assert "Settings saved" in page(admin, "/admin/settings").words
    saved = stored_settings(pages_url)
    assert saved["authority_name"] == "Wessex Council"
    assert saved["authority_address"] == "County Hall\nMartineau Lane\nNorwich\nSO23 8UR"
    assert saved["payment_methods"] == "Online at www.wessex.example.gov.uk/pay\nBy phone on 0300 123 4567"
    assert audit_details(pages_url, world.admin, "setting", "authority")[-1] == {
        "authority_address": saved["authority_address"], "authority_name": "Wessex Council",
        "authority_phone": "0300 123 4567", "payment_methods": saved["payment_methods"]}


def png(size: tuple[int, int] = (40, 20)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "navy").save(buffer, "PNG")
    return buffer.getvalue()


def upload(admin, data: bytes, name: str):
    return post_form(admin, "/admin/settings", {"action": "logo"}, files={"logo": (io.BytesIO(data), name)})


def test_a_real_png_logo_is_stored_shown_and_audited(admin, world, pages_url):
    image = png()
    answer = upload(admin, image, "crest.png")
    assert answer.status_code == 302
    assert "Logo saved" in page(admin, "/admin/settings").words
    saved = stored_settings(pages_url)
    assert saved["logo_type"] == "image/png" and storage.load(saved["logo"]) == image
    preview = admin.get("/admin/settings/logo")
    assert preview.status_code == 200 and preview.data == image and preview.headers["Content-Type"] == "image/png"
    assert 'src="/admin/settings/logo"' in admin.get("/admin/settings").get_data(as_text=True)
    assert audit_details(pages_url, world.admin, "setting", "logo")[-1]["type"] == "image/png"


@pytest.mark.parametrize("data, name, message", [
    (b"Dear parent, this is plain text.\n", "crest.png", "The logo must be a PNG or SVG image"),
    (png()[:60], "crest.png", "The logo is not a valid PNG image: it may be damaged"),
    (b"\x89PNG\r\n\x1a\n" + bytes(600 * 1024), "big.png", "The logo must be 500 KB or smaller"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "crest.svg",
     "The SVG logo must not contain scripts"),
    (b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="http://www.w3.org/1999/xlink">'
     b'<image x:href="https://tracker.example.com/pixel.png"/></svg>', "crest.svg",
     "The SVG logo must not refer to other files or web addresses"),
    (b"", "", "Choose a PNG or SVG file for the logo"),
])
def test_a_logo_is_judged_by_its_content(admin, pages_url, data, name, message):
    before = stored_settings(pages_url)
    answer = upload(admin, data, name)
    assert answer.status_code == 200
    assert problems(answer) == [("#logo", message)]
    assert stored_settings(pages_url) == before


def test_a_plain_svg_logo_is_accepted_and_the_logo_can_be_removed(admin, world, pages_url):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20" ' \
          b'fill="url(#fill)"/></svg>'
    assert upload(admin, svg, "crest.svg").status_code == 302
    assert stored_settings(pages_url)["logo_type"] == "image/svg+xml"
    assert admin.get("/admin/settings/logo").headers["Content-Type"] == "image/svg+xml"
    removed = post_form(admin, "/admin/settings", {"action": "remove_logo"})
    assert "Logo removed" in page(admin, removed.headers["Location"]).words
    assert stored_settings(pages_url)["logo"] == "" and admin.get("/admin/settings/logo").status_code == 404
    assert audit_details(pages_url, world.admin, "setting", "logo")[-1] == {"removed": True}
