"""Regions through the service (issue 20, docs/service.md "Regions"): a region job end to end, with a mask of
another size scaled with a warning, a raw mask, and every refusal naming its part. One engine serves all.
"""

from __future__ import annotations

import json

import numpy as np
from service_helpers import FAST, call, events, health, png, submit

WIDTH, HEIGHT = 451, 300  # chelsea.jpg, the helpers' content


def _left_half(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    mask[:, : width // 2] = 255
    return mask


def _regions(masks: list[tuple[bytes, str]], regions: object, rest: str | None = None,
             raw: bool = False) -> list:  # fmt: skip
    extra = [("region_mask", data, name) for data, name in masks]
    extra.append(("regions", regions if isinstance(regions, str) else json.dumps(regions), None))
    if rest is not None:
        extra.append(("rest", rest, None))
    if raw:
        extra.append(("mask_format", "raw", None))
    return extra


def _cases(photos) -> list[tuple[str, dict, int, str]]:
    """(name, submit() arguments, status, text the error must contain)."""
    mask = png(_left_half())
    one = [(mask, "sky.png")]
    return [
        ("mask not a picture", {"extra": _regions([(b"not a picture", "sky.png")], [{"style": 1}])}, 400,
         "region mask 1 (sky.png)"),
        ("second mask not a picture", {"extra": _regions([*one, (b"GIF89a broken", "sea.gif")],
                                                        [{"style": 1}, {"style": 1}])}, 400, "region mask 2 (sea.gif)"),
        ("raw mask of the wrong byte count", {"extra": _regions([(bytes(100), "m.raw")], [{"style": 1}], raw=True)},
         400, "Region mask 1 (m.raw) has 100 bytes"),
        ("more masks than regions", {"extra": _regions([*one, *one], [{"style": 1}])}, 400, "one `regions` entry"),
        ("fewer masks than regions", {"extra": _regions(one, [{"style": 1}, {"style": "photo"}])}, 400,
         "one `regions` entry"),
        ("regions but no mask", {"extra": _regions([], [{"style": 1}])}, 400, "0 `region_mask`"),
        ("style index out of range", {"extra": _regions(one, [{"style": 3}])}, 422, "Region 1 asks for style 3"),
        ("style index 0", {"extra": _regions(one, [{"style": 0}])}, 422, "from 1 to 1"),
        ("unknown style word", {"extra": _regions(one, [{"style": "sky"}])}, 422, "'sky' is no style"),
        ("NaN weight", {"extra": _regions(one, '[{"style": 1, "weight": NaN}]')}, 422, "Region 1's weight"),
        ("negative weight", {"extra": _regions(one, [{"style": 1, "weight": -1}])}, 422, "Region 1's weight"),
        ("regions not JSON", {"extra": _regions(one, "[{style")}, 400, "`regions` is not valid JSON"),
        ("regions not a list", {"extra": _regions(one, {"style": 1})}, 400, "JSON list of objects"),
        ("region without a style", {"extra": _regions(one, [{"weight": 1}])}, 422, "has no \"style\""),
        ("rest out of range", {"extra": _regions(one, [{"style": 1}], rest="2")}, 422, "`rest` asks for style 2"),
        ("mask as a plain field", {"extra": [("region_mask", "0101", None), ("regions", "[{\"style\": 1}]", None)]},
         400, "plain form field"),
        ("unknown mask format", {"extra": [*_regions(one, [{"style": 1}]), ("mask_format", "jpeg2000", None)]}, 400,
         "`mask_format`"),
        ("too many masks", {"extra": _regions(one * 9, [{"style": 1}] * 9)}, 400, "at most 8 regions"),
        ("mask over the pixel limit", {"extra": _regions([(png(np.zeros((1100, 1000), np.uint8)), "big.png")],
                                                         [{"style": 1}])}, 413, "Region mask 1 (big.png) is 1000x1100"),
    ]


def test_a_region_job_runs_and_each_bad_region_request_is_refused_naming_its_part(start_engine, photos):
    engine = start_engine("--max-image-pixels", "1000000")
    half = png(_left_half(WIDTH // 2, HEIGHT // 2))  # another size than the content's: scaled, with a warning
    styles = [photos["ihc"].read_bytes(), photos["hubble"].read_bytes()]
    status, job = submit(engine, photos, {**FAST, "output": "content"}, styles=styles,
                         extra=_regions([(half, "sky.png")], [{"style": 2, "weight": 2.0}], rest="1"))
    assert status == 202, job
    assert job["warnings"] == ["Region mask 1 (sky.png) is 225x150, the content 451x300: it was scaled to the "
                               "content."]
    done = events(engine, job["id"])[-1]
    assert done["type"] == "done", done
    assert done["warnings"] == job["warnings"] and done["message"].startswith("Region mask 1 (sky.png) is 225x150")
    status, headers, _ = call(engine, "GET", f"/jobs/{job['id']}/result")
    assert status == 200 and (headers["x-width"], headers["x-height"]) == (str(WIDTH), str(HEIGHT))
    # A raw mask of the content's size: no warning.
    status, raw_job = submit(engine, photos, FAST, extra=_regions([(_left_half().tobytes(), "m.raw")],
                                                                  [{"style": "photo"}], rest="blend", raw=True))
    assert status == 202 and "warnings" not in raw_job, raw_job
    assert events(engine, raw_job["id"])[-1]["type"] == "done"
    for name, arguments, want_status, want_text in _cases(photos):
        status, body = submit(engine, photos, FAST, **arguments)
        assert (status, want_text in body.get("error", "")) == (want_status, True), (name, status, body)
        assert "Traceback" not in body["error"], name
    assert health(engine)["status"] == "ok"
