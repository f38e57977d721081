"""shopapp: the application under test of the shop stack (issue 8).

An async HTTP service (Starlette on uvicorn, one worker per process) over the shop stack's restored
data: the commerce events database (MariaDB / Aurora MySQL) and the session and cart cache (Redis).
It records events, reads a profile's recent events through a short-lived Redis cache, reads a
session's cart, reports its health and serves Prometheus metrics; a fault switch adds latency and a
share of HTTP 500s so that a load ramp can be made to breach for real.

It imports nothing from loadstack: it is deployed on its own (127.0.0.1 processes behind HAProxy on
the local profile, instances of the app_cluster module on aws). Modules:

- `config`: the environment (`SHOPAPP_*`) read and checked once, errors naming the variable and the fix;
- `credentials`: the database and cache endpoints from their Secrets Manager secrets (boto3);
- `faults`: the static and dynamic fault settings and the switch that combines them;
- `metrics`: the Prometheus instruments of one process;
- `database`: the events store (aiomysql pool, events shards);
- `cache`: Redis (sessions, carts, the events cache, the fault key);
- `event_ids`: event ids unique across every app process;
- `middleware`: route templates, metrics and injected faults around every request;
- `routes`, `app`: the endpoints and the Starlette application with its lifespan;
- `__main__`: `python -m shopapp --host H --port P --name NAME`.
"""
