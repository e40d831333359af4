"""The request bodies the routes read themselves (multipart forms, /plan's JSON), described for OpenAPI.

The routes parse their forms by hand (to check headers before decoding anything), so FastAPI cannot
see their fields: these descriptions are what /openapi.json, the docs page and the fuzzing test
(tests/test_fuzz.py, schemathesis) know of each body. One place, so that a route's new field is
described next to the others.
"""

from __future__ import annotations

from typing import Any

from nst_engine.gatys.guides import MAX_REGIONS
from nst_engine.settings import json_schema

BINARY = {"type": "string", "format": "binary"}
# The content of a job, as POST /jobs and POST /styles/{name}/apply both take it.
CONTENT_FIELDS: dict[str, Any] = {
    "content": {**BINARY, "description": "the content image (PNG, TIFF, WebP, JPEG, GIF, BMP), or raw pixels"},
    "content_format": {"enum": ["encoded", "raw"], "default": "encoded"},
    "width": {"type": "integer", "description": "raw pixels only"},
    "height": {"type": "integer", "description": "raw pixels only"},
    "sample_format": {"enum": ["u8", "u16", "f32"], "description": "raw pixels only"},
    "channels": {"enum": [3, 4], "description": "raw pixels only"},
    "grayscale": {"type": "boolean", "default": False},
}

STYLE_CHOICE = {"oneOf": [{"type": "integer", "minimum": 1}, {"enum": ["photo", "blend"]}]}
# A job's regions (docs/service.md, "Regions"): one mask per entry of `regions`, in order.
REGION_FIELDS: dict[str, Any] = {
    "region_mask": {"type": "array", "items": BINARY, "maxItems": MAX_REGIONS,
                    "description": "region masks: image files, or u8 bytes (mask_format=raw)"},
    "regions": {"type": "array", "maxItems": MAX_REGIONS, "description": "one entry per region_mask, in order",
                "items": {"type": "object", "required": ["style"], "additionalProperties": False,
                          "properties": {"style": STYLE_CHOICE, "weight": {"type": "number", "minimum": 0}}}},
    "rest": {**STYLE_CHOICE, "description": "what no mask covers (default photo)"},
    "mask_format": {"enum": ["encoded", "raw"], "default": "encoded"},
}


def multipart(properties: dict[str, Any], required: list[str], json_parts: tuple[str, ...] = ()) -> dict[str, Any]:
    """An `openapi_extra` for a route whose multipart/form-data body has these parts."""
    media: dict[str, Any] = {"schema": {"type": "object", "required": required, "properties": properties}}
    if json_parts:
        media["encoding"] = {name: {"contentType": "application/json"} for name in json_parts}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": media}}}


def submit_body(max_styles: int) -> dict[str, Any]:
    """POST /jobs: the content, the style pictures and the job's settings (the settings' own schema)."""
    return multipart({
        **CONTENT_FIELDS,
        "style": {"type": "array", "items": BINARY, "minItems": 1, "maxItems": max_styles,
                  "description": "style images"},
        "settings": {**json_schema(), "description": "the job's settings (a JSON object)"},
        "preview": {"type": "boolean", "default": False},
        **REGION_FIELDS,
    }, ["content", "style"], json_parts=("settings", "regions"))


def apply_body() -> dict[str, Any]:
    """POST /styles/{name}/apply: the content and the style's strength."""
    return multipart({**CONTENT_FIELDS, "strength": {"type": "number", "minimum": 0, "maximum": 1, "default": 1}},
                     ["content"])


def learn_body(min_photos: int, max_photos: int, option_names: tuple[str, ...]) -> dict[str, Any]:
    """POST /styles/learn: the style picture, the photographs, the learning options."""
    return multipart({
        "name": {"type": "string", "minLength": 1, "maxLength": 64},
        "style": BINARY,
        "photo": {"type": "array", "items": BINARY, "minItems": min_photos, "maxItems": max_photos},
        "options": {"type": "object", "properties": {name: {} for name in option_names},
                    "additionalProperties": False},
        "replace": {"type": "boolean", "default": False},
        "keep_running": {"type": "boolean", "default": False},
    }, ["name", "style", "photo"], json_parts=("options",))


def plan_body(max_side: int) -> dict[str, Any]:
    """POST /plan: a layer's size and the job's settings, as JSON."""
    side = {"type": "integer", "minimum": 1, "maximum": max_side}
    schema = {"type": "object", "required": ["width", "height"],
              "properties": {"width": side, "height": side, "settings": json_schema()}}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
