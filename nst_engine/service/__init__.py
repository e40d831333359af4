"""`nst-engine serve`: keeps VGG-19 warm on the device and runs jobs for the GIMP plug-in over HTTP.

FastAPI (Starlette + uvicorn) rather than aiohttp or a socket protocol of our own: it validates
requests, streams responses, notices a client that went away (so its job is cancelled), and
describes the API as OpenAPI at /openapi.json for free. Images arrive as bytes, never as paths.

- `forms`: request parsing shared by every route, and the configuration requests are checked against.
- `jobs`: the queue, one worker thread, bounded memory (docs/service.md, "Limits").
- `limits`: what a job may cost, decided from image headers before decoding.
- `app`: the job routes and event streams, every refusal a 4xx `{"error": ...}`; `plan_route` (POST /plan)
  and `learned_routes` (learned styles) add theirs; `learned_jobs` are the learned styles' queue work.
- `protocol`: header and body deadlines for uvicorn's h11 protocol.
- `instance`: token, single-instance lock, state file, and `serve`.

Import from the module that defines a name: this package re-exports nothing, so that importing one
module does not load the whole service.
"""
