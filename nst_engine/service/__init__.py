"""`nst-engine serve`: keeps VGG-19 warm on the device and runs jobs for the GIMP plug-in over HTTP.

FastAPI (Starlette + uvicorn) rather than aiohttp or a socket protocol of our own: it validates
requests, streams responses, notices a client that went away (so its job is cancelled), and
describes the API as OpenAPI at /openapi.json for free. Images arrive as bytes, never as paths.

- `jobs`: the queue, one worker thread, bounded memory (docs/service.md, "Limits").
- `limits`: what a job may cost, decided from image headers before decoding.
- `app`: routes, request parsing, event streams; every refusal a 4xx `{"error": ...}`.
- `protocol`: header and body deadlines for uvicorn's h11 protocol.
- `instance`: token, single-instance lock, state file, and `serve`.
"""

from nst_engine.service.app import MAX_STYLES, ServiceConfig, create_app
from nst_engine.service.instance import add_serve_arguments, run_serve, running_instance
from nst_engine.service.jobs import KEPT_EVENTS, KEPT_RESULTS, Job, JobQueue, ServiceError

__all__ = [
    "KEPT_EVENTS", "KEPT_RESULTS", "MAX_STYLES", "Job", "JobQueue", "ServiceConfig", "ServiceError",
    "add_serve_arguments", "create_app", "run_serve", "running_instance",
]
