"""The OpenAPI 3.0 description of the live data feed, and the limits the views enforce (one source for both)."""
from __future__ import annotations

from functools import lru_cache

from casework.models import SEN_VALUES
from casework.services.feed import MARK_FIELDS, PUPIL_BOOLEAN_FIELDS, PUPIL_REQUIRED, PUPIL_TEXT_LIMITS

MAX_BODY_BYTES = 20 * 1024 * 1024
MAX_ERRORS = 100
EARLIEST_MARK_DATE = "2000-01-01"  # no live feed sends older marks; year-1 dates would break the measures
IDEMPOTENCY_KEY_PATTERN = r"[!-~]{1,200}"

_UPN = {"type": "string", "pattern": "^[A-Z][0-9]{11}[0-9A-Z]$", "minLength": 13, "maxLength": 13,
        "description": "Unique Pupil Number (13 characters, check letter first)", "example": "A926212025001"}
_DATE = {"type": "string", "format": "date", "description": "YYYY-MM-DD, not in the future"}
_TEXT = r"^[^\u0000-\u001f\u007f-\u009f]*$"


def _text(max_length: int, description: str, min_length: int = 0) -> dict:
    schema = {"type": "string", "maxLength": max_length, "pattern": _TEXT, "description": description}
    if min_length:
        schema["minLength"] = min_length
    return schema


def _error_responses(*codes: int) -> dict:
    meaning = {
        400: "The body is not JSON, or not an object with the one array member; or a bad Idempotency-Key.",
        401: "No token, or an unknown or revoked token.",
        409: "The Idempotency-Key was used before with a different body.",
        413: f"The body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB.",
        415: "The body was not sent as application/json.",
        422: "One or more rows are invalid or name a pupil on another school's roll; nothing was written.",
    }
    out = {}
    for code in codes:
        out[str(code)] = {"description": meaning[code],
                          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}}}
    out["401"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}}
    return out


def _post_operation(kind: str, row_schema: str, result_schema: str, summary: str, description: str) -> dict:
    return {
        "operationId": f"post_{kind}",
        "summary": summary,
        "description": description,
        "security": [{"bearerAuth": []}],
        "parameters": [{"$ref": "#/components/parameters/IdempotencyKey"}],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {
                "type": "object",
                "required": [kind],
                "additionalProperties": False,
                "properties": {kind: {"type": "array", "items": {"$ref": f"#/components/schemas/{row_schema}"}}},
            }}},
        },
        "responses": {
            "200": {"description": "Every row was accepted and written (or this is the replay of an earlier post).",
                    "headers": {"Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]},
                                                        "description": "Present when the answer is a replay"}},
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{result_schema}"}}}},
            **_error_responses(400, 401, 409, 413, 415, 422),
        },
    }


def _counts(prefix: str, outcomes: tuple[str, ...]) -> dict:
    schema = {
        "type": "object",
        "required": ["accepted", *(f"{prefix}_{o}" for o in outcomes), "alerts"],
        "properties": {"accepted": {"type": "integer", "minimum": 0, "description": "rows in the post"}},
    }
    for outcome in outcomes:
        schema["properties"][f"{prefix}_{outcome}"] = {"type": "integer", "minimum": 0}
    schema["properties"]["alerts"] = {"type": "array", "items": {"type": "string"},
                                      "description": "alerts raised by the checks run after the import"}
    return schema


@lru_cache(maxsize=1)
def openapi_document() -> dict:
    """The OpenAPI 3.0.3 document served at /api/openapi.json."""
    pupil_properties: dict = {
        "upn": _UPN,
        "surname": _text(100, "legal surname", 1),
        "forename": _text(100, "legal forename", 1),
        "date_of_birth": _DATE,
        "year_group": _text(4, "NC year group, e.g. R, 1 .. 14"),
        "sen": {"type": "string", "enum": list(SEN_VALUES), "description": "SEN provision"},
    }
    for name in PUPIL_BOOLEAN_FIELDS:
        pupil_properties[name] = {"type": "boolean"}
    for name in ("address_line1", "address_line2", "town", "postcode"):
        pupil_properties[name] = _text(PUPIL_TEXT_LIMITS[name], name.replace("_", " "))
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "casework live data feed",
            "version": "1.0.0",
            "description": (
                "A school's MIS posts the day's attendance marks and its roll changes. Authenticate with the "
                "school's API token (`Authorization: Bearer cwf_…`, issued by an administrator with "
                "`casework tokens issue`); a token writes only for its own school, and only pupils on that "
                "school's roll. Each post is all-or-nothing: any invalid row rejects the whole post (422) with "
                "errors naming the row (0-based index in the array) and the field. Posting the same data again "
                "changes nothing; with an `Idempotency-Key` header a repeat of a byte-identical post returns the "
                "first answer without writing anything, and the same key with a different body is refused (409)."
            ),
        },
        "paths": {
            "/api/v1/marks": {"post": _post_operation(
                "marks", "Mark", "MarksResult", "Post attendance marks",
                "Marks for pupils on the token's school roll. A later mark for the same pupil, date and session "
                "replaces the earlier one, and the change is kept in the register's history.")},
            "/api/v1/pupils": {"post": _post_operation(
                "pupils", "Pupil", "PupilsResult", "Post joiners and changed pupil details",
                "A UPN not known yet becomes a pupil on the token's school roll; a known UPN must be on that roll "
                "already. Optional fields left out keep their stored value (or take the default for a joiner).")},
            "/api/v1/school": {"get": {
                "operationId": "get_school",
                "summary": "The school this token writes for",
                "security": [{"bearerAuth": []}],
                "responses": {
                    "200": {"description": "The token's school",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/School"}}}},
                    **_error_responses(401),
                },
            }},
            "/api/openapi.json": {"get": {
                "operationId": "get_openapi",
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.0 document",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}},
            }},
        },
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "the school's API token, cwf_…"}},
            "parameters": {"IdempotencyKey": {
                "name": "Idempotency-Key", "in": "header", "required": False,
                "description": "any unique value per post (e.g. a UUID); a repeat with the same key and body "
                               "is answered from the first post and writes nothing",
                "schema": {"type": "string", "pattern": f"^{IDEMPOTENCY_KEY_PATTERN}$"},
            }},
            "schemas": {
                "Mark": {
                    "type": "object",
                    "required": list(MARK_FIELDS),
                    "additionalProperties": False,
                    "properties": {
                        "upn": _UPN,
                        "date": {**_DATE, "description": f"YYYY-MM-DD, from {EARLIEST_MARK_DATE} up to today"},
                        "session": {"type": "string", "enum": ["AM", "PM"]},
                        "code": {"type": "string", "pattern": r"^(?:[/\\A-Z#]|C1|C2|J1|Y[1-7])$",
                                 "description": "DfE register code valid on the date (`/`, `\\`, one letter, "
                                                "C1, C2, J1, Y1–Y7) or `#` for no session"},
                    },
                },
                "Pupil": {
                    "type": "object",
                    "required": list(PUPIL_REQUIRED),
                    "additionalProperties": False,
                    "properties": pupil_properties,
                },
                "MarksResult": _counts("marks", ("added", "changed", "unchanged")),
                "PupilsResult": _counts("pupils", ("created", "updated", "unchanged")),
                "School": {
                    "type": "object",
                    "required": ["urn", "name", "token_prefix"],
                    "properties": {"urn": {"type": "string", "pattern": "^[0-9]{6}$"}, "name": {"type": "string"},
                                   "token_prefix": {"type": "string"}},
                },
                "Errors": {
                    "type": "object",
                    "required": ["errors"],
                    "properties": {"errors": {"type": "array", "minItems": 1, "maxItems": MAX_ERRORS,
                                              "items": {"$ref": "#/components/schemas/Error"}}},
                },
                "Error": {
                    "type": "object",
                    "required": ["row", "field", "message"],
                    "properties": {
                        "row": {"type": "integer", "minimum": 0, "nullable": True,
                                "description": "0-based index of the row in the posted array; null for the post"},
                        "field": {"type": "string", "nullable": True,
                                  "description": "the row's field (or the header) at fault; null if none"},
                        "message": {"type": "string"},
                    },
                },
            },
        },
    }
