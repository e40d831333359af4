"""POST /plan and the estimate in `queued`/`started` events, on a real `nst-engine serve` process.

One engine serves the module, its device measured by the module's first /plan (kept in `engine.first`),
so that each test finds the state it needs in any order; the test of a job before any measurement starts
an engine of its own. The plug-in's client asks the same engine.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import EngineProcess
from service_helpers import FAST, call, events, submit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"))
from engine_client import EngineClient, EngineJobFailed  # noqa: E402

PHOTO = (2048, 1365)


def plan(engine, body, token="default", timeout: float = 300) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, _, answer = call(engine, "POST", "/plan", data, {"Content-Type": "application/json"}, token=token,
                             timeout=timeout)
    return status, json.loads(answer)


@pytest.fixture(scope="module")
def engine(tmp_path_factory, synthetic_weights_file):
    """The module's engine, its device measured by a first /plan for the photo (its answer: `engine.first`)."""
    process = EngineProcess(tmp_path_factory.mktemp("plan-home"), synthetic_weights_file)
    try:
        assert not (process.home / "data" / "timing.json").exists()
        process.first = plan(process, {"width": PHOTO[0], "height": PHOTO[1], "settings": {"time_budget": 0}})
        yield process
    finally:
        process.stop()


def test_events_carry_the_plan_before_the_device_is_measured(start_engine, photos):
    """A tiny job is not worth measuring the device for: its events say so with a null estimate."""
    engine = start_engine()  # its own: the module's engine is measured
    _, job = submit(engine, photos, FAST)
    seen = events(engine, job["id"])
    queued, started = seen[0], next(e for e in seen if e["type"] == "started")
    for event in (queued, started):
        assert event["estimate_seconds"] is None
        assert event["plan"]["size"] == [48, 32] and event["plan"]["scales"][0]["iterations"] == 2
    assert seen[-1]["type"] == "done"
    assert not (engine.home / "data" / "timing.json").exists()


@pytest.mark.parametrize("body,status,words", [
    (b"{not json", 400, "not valid JSON"),
    ([1, 2], 400, "JSON object"),
    ({"height": 10}, 422, "`width` must be an integer"),
    ({"width": 10, "height": True}, 422, "`height` must be an integer"),
    ({"width": 30000, "height": 30000}, 413, "limit"),
    ({"width": 64, "height": 64, "settings": {"sise": 3}}, 422, "did you mean size"),
    ({"width": 64, "height": 64, "settings": {"device": "cpu"}}, 422, "set by the engine's server"),
    ({"width": 64, "height": 64, "settings": "draft"}, 400, "must be a JSON object"),
    ({"width": 8, "height": 8}, 422, "too small"),
])
def test_plan_refusals_are_4xx_errors(engine, body, status, words):
    got, answer = plan(engine, body)
    assert got == status and words in answer["error"], answer


def test_plan_needs_the_token(engine):
    got, answer = plan(engine, {"width": 64, "height": 64}, token="wrong")
    assert got == 401 and "token" in answer["error"]


def test_plan_measures_the_device_once_and_estimates_the_layers_size(engine):
    got, answer = engine.first  # the engine's first /plan: it measured the device
    assert got == 200, answer
    assert answer["calibrated"] is True and answer["seconds"] > 0
    assert answer["device"] == "cpu" and answer["device_name"]
    steps = answer["plan"]["scales"]
    assert answer["plan"]["size"] == list(PHOTO) and steps[-1]["size"] == list(PHOTO)
    assert [s["iterations"] for s in steps] == [50, 50, 100, 25]  # the detail scale gets a quarter
    stored = json.loads((engine.home / "data" / "timing.json").read_text())
    assert len(stored["rates"]) == 1

    # No time budget: the draft's size is the preset's, however slow or busy the machine the rate was measured on.
    _, draft = plan(engine, {"width": PHOTO[0], "height": PHOTO[1], "settings": {"preset": "draft", "time_budget": 0}})
    def quiet(estimate: dict) -> float:  # the estimate on the quiet device (the moment's load divided out)
        return estimate["seconds"] / estimate["slowdown"]

    assert draft["plan"]["size"] == [512, 341] and quiet(draft) < quiet(answer)
    # A budget shorter than the full size's estimate caps the working size and says so.
    budget = quiet(answer) / 4
    _, capped = plan(engine, {"width": PHOTO[0], "height": PHOTO[1], "settings": {"time_budget": budget}})
    # The size is fitted on the quiet device; the estimate is what it will take now, beside other programs.
    assert max(capped["plan"]["size"]) < PHOTO[0] and capped["seconds"] <= budget * capped["slowdown"] * 1.01
    assert "capped" in capped["plan"]["message"] and "time budget" in capped["plan"]["message"]
    assert len(json.loads((engine.home / "data" / "timing.json").read_text())["rates"]) == 1  # measured once


def test_events_carry_the_estimate_once_measured(engine, photos):
    """A tiny job's estimate, once the device is measured, is there and never rounded to 0 (however fast)."""
    _, job = submit(engine, photos, {**FAST, "output": "content"})
    seen = events(engine, job["id"])
    queued, started = seen[0], next(e for e in seen if e["type"] == "started")
    for event in (queued, started):
        assert event["estimate_seconds"] > 0 and event["plan"]["size"] == [48, 32]
    assert seen[-1]["type"] == "done"
    # Too short to teach the estimates anything (its time is fixed costs): nothing is kept of it.
    assert not json.loads((engine.home / "data" / "timing.json").read_text()).get("ratios")


def test_the_estimate_counts_the_load_now_and_what_recent_jobs_took(engine):
    """/plan's seconds: the quiet estimate x the slowdown other programs cause now x recent jobs' median ratio,
    with a range where those spread widely (issue 23: estimates were 1.3-4.4x short on a busy machine)."""
    body = {"width": PHOTO[0], "height": PHOTO[1], "settings": {"time_budget": 0}}
    timing_file = engine.home / "data" / "timing.json"
    stored = json.loads(timing_file.read_text())
    (key,) = stored["rates"]
    try:
        _, plain = plan(engine, body)
        assert plain["slowdown"] >= 1.0 and plain["seconds_range"] is None
        quiet = plain["seconds"] / plain["slowdown"]
        timing_file.write_text(json.dumps({**stored, "ratios": {key: [2.0, 2.1, 1.9]}}))
        _, slower = plan(engine, body)
        assert slower["seconds"] / slower["slowdown"] == pytest.approx(2.0 * quiet, rel=0.01)
        assert slower["seconds_range"] is None  # a narrow spread: one number
        timing_file.write_text(json.dumps({**stored, "ratios": {key: [1.0, 3.0, 2.0]}}))
        _, spread = plan(engine, body)
        low, high = spread["seconds_range"]
        assert low < spread["seconds"] < high
        assert (low, high) == pytest.approx((quiet * spread["slowdown"], 3 * quiet * spread["slowdown"]), rel=0.01)
    finally:
        timing_file.write_text(json.dumps(stored))


def test_the_plugins_client_asks_for_a_plan(engine):
    client = EngineClient(engine.url, engine.token)
    answer = client.plan(PHOTO[0], PHOTO[1], {"preset": "standard", "output": "content"})
    assert set(answer) == {"plan", "seconds", "seconds_range", "slowdown", "device", "device_name", "calibrated"}
    assert answer["calibrated"] and answer["seconds"] > 0
    with pytest.raises(EngineJobFailed, match="quality|preset"):
        client.plan(PHOTO[0], PHOTO[1], {"preset": "ultra"})


def test_the_learn_windows_estimate_probes_one_scale_of_the_training_size(engine):
    """Learn a Style… derives its estimate from two plans of one scale that differ only in their iterations
    (learned_logic.iteration_seconds): the engine must plan exactly what is asked, linear in iterations."""
    import learned_logic as LL

    client = EngineClient(engine.url, engine.token)
    answers = {n: client.plan(256, 256, LL.probe_settings(256, n)) for n in (*LL.PROBE_ITERATIONS, 80)}
    for n, answer in answers.items():
        assert answer["plan"]["scales"] == [{"size": [256, 256], "iterations": n, "tile": None, "tiles": 1}]
    short, long = (answers[n] for n in LL.PROBE_ITERATIONS)
    first, wider = LL.iteration_seconds(short, long), LL.iteration_seconds(long, answers[80])
    assert first is not None and first > 0 and first == pytest.approx(wider, rel=0.05)
    bigger = LL.iteration_seconds(*(client.plan(512, 512, LL.probe_settings(512, n)) for n in LL.PROBE_ITERATIONS))
    assert bigger is not None and bigger > 2 * first  # four times the pixels
