"""Prometheus metrics: HTTP by route template and status, latency, in-flight, job runs."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

HTTP_REQUESTS = Counter(
    "tessera_http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "tessera_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
HTTP_IN_FLIGHT = Gauge("tessera_http_requests_in_flight", "HTTP requests being handled")
JOB_RUNS = Counter("tessera_job_runs_total", "Scheduled job runs", ["job", "outcome"])
JOB_DURATION = Histogram("tessera_job_duration_seconds", "Scheduled job duration", ["job"])
RATE_LIMITED = Counter("tessera_rate_limited_total", "Requests refused by a rate limit", ["limit"])


async def metrics_endpoint(_: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
