"""Fuzzing a real `nst-engine serve` from its own OpenAPI description (schemathesis): no 5xx, no hang.

Every route in /openapi.json, the learned-style ones included, gets generated requests: bodies from
the multipart and JSON descriptions in nst_engine/service/openapi_bodies.py, with the token. Seeded
(derandomised), 30 cases per operation (360 in all); longer runs by hand with
NST_FUZZ_EXAMPLES=N. Afterwards the engine must still answer and run a good job correctly.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_helpers import events, json_call, submit  # noqa: E402

pytestmark = pytest.mark.fuzz
EXAMPLES = int(os.environ.get("NST_FUZZ_EXAMPLES", "30"))  # per operation: 12 operations, 360 cases


@pytest.fixture(scope="module")
def fuzzed_engine(tmp_path_factory: pytest.TempPathFactory, synthetic_weights_file: Path):
    from conftest import EngineProcess

    # Small queue and short timeouts: generated jobs that would run long are refused or cancelled, not waited on.
    engine = EngineProcess(tmp_path_factory.mktemp("fuzz-home"), synthetic_weights_file, "--device", "cpu",
                           "--max-queue", "2", "--body-timeout", "5", "--header-timeout", "5")
    yield engine
    engine.stop()


def _operations(engine) -> list:
    status, spec = json_call(engine, "GET", "/openapi.json")
    assert status == 200, spec
    return [result.ok() for result in schemathesis.openapi.from_dict(spec).get_all_operations()]


def test_generated_requests_get_no_server_error_and_leave_the_engine_working(fuzzed_engine, photos) -> None:
    operations = _operations(fuzzed_engine)
    assert {op.label for op in operations} >= {"POST /jobs", "POST /plan", "POST /styles/learn",
                                                "POST /styles/{name}/apply"}
    headers = {"Authorization": f"Bearer {fuzzed_engine.token}"}
    answers: Counter[str] = Counter()
    for operation in operations:
        if operation.path.endswith("/events"):
            continue  # a stream stays open until its job ends: the good job below follows one instead
        send = _sender(operation, fuzzed_engine, headers, answers)
        send()
    print("fuzzed:", dict(sorted(answers.items())))
    assert sum(answers.values()) >= min(300, 10 * EXAMPLES), answers  # small operations run out of cases
    assert fuzzed_engine.healthy()
    status, job = submit(fuzzed_engine, photos)
    assert status == 202, job
    done = events(fuzzed_engine, job["id"])[-1]
    assert done["type"] == "done" and max(done["width"], done["height"]) == 48, json.dumps(done)[:500]


def _sender(operation, engine, headers: dict[str, str], answers: Counter[str]):
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def send(case) -> None:
        response = case.call(base_url=engine.url, headers=headers, timeout=60)
        answers[f"{operation.label} {response.status_code}"] += 1
        case.validate_response(response, checks=[not_a_server_error])
        if response.status_code == 202 and operation.method.upper() == "POST":
            # An admitted generated job is cancelled at once, so that the small queue stays free.
            json_call(engine, "DELETE", f"/jobs/{response.json()['id']}")

    return send
