"""`nst-engine serve`: keeps VGG-19 warm on the device and runs jobs for the GIMP plug-in over HTTP.

FastAPI (Starlette + uvicorn) rather than aiohttp or a socket protocol of our own: it validates
requests, streams responses, notices a client that went away (so its job is cancelled), and
describes the API as OpenAPI at /openapi.json for free. Images arrive as bytes, never as paths.

- `config`: the engine's `ServiceConfig` and `serve`'s options; `budgets`: memory budgets from the machine's.
- `forms`: request parsing shared by every route; `limits`: the smallest picture the network can work on.
- `queue`: the queue, one worker thread, bounded memory (docs/service.md, "Limits"); each job carries its
  `work`: `stylize_jobs` (stylisation), `learned_jobs` (learning and applying styles).
- `app`: the job routes and event streams, every refusal a 4xx `{"error": ...}`; `plan_route` (POST /plan)
  and `learned_routes` (learned styles) add theirs.
- `protocol`: header and body deadlines for uvicorn's h11 protocol.
- `instance`: token, single-instance lock, state file, and `serve`.

Import from the module that defines a name: this package re-exports nothing, so that importing one
module does not load the whole service.
"""
