"""/healthz and /metrics: for a load balancer and for Prometheus.

The figures come from the store and the queue, not from counters in this process, so that
every web process of a scaled-out service reports the same totals whichever worker did the
work.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from reviewbot.errors import Unavailable
from reviewbot_web.store import FAILED, FAILED_TO_APPLY, REVIEWED

log = logging.getLogger(__name__)
bp = Blueprint("monitor", __name__)
REVIEW_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, float("inf"))  # seconds


@bp.get("/healthz")
def healthz():
    from reviewbot_web import services

    try:
        services().store.stats()
        services().jobs.depth()
    except Exception as err:  # the store or the queue is down: say so, and which
        log.warning("health check failed: %s", err)
        return jsonify(status="unavailable", error=f"{type(err).__name__}: {err}"), 503
    return jsonify(status="ok")


@bp.get("/metrics")
def metrics():
    from reviewbot_web import services

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector(services()))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


class Collector:
    def __init__(self, services):
        self.services = services

    def collect(self):
        store = self.services.store
        by_status, by_kind, seconds = store.stats()
        yield GaugeMetricFamily("reviewbot_queue_depth", "Review jobs waiting or running",
                                value=self.services.jobs.depth())
        yield CounterMetricFamily("reviewbot_jobs_done", "Review jobs finished with a stored review",
                                  value=by_status.get(REVIEWED, 0))
        yield CounterMetricFamily("reviewbot_jobs_failed", "Review jobs that ended in a failure",
                                  value=by_status.get(FAILED, 0) + by_status.get(FAILED_TO_APPLY, 0))
        yield CounterMetricFamily("reviewbot_lore_fetch_errors",
                                  "Archive reads that failed (list feeds and threads)",
                                  value=store.feed_errors() + by_kind.get(Unavailable.kind, 0))
        buckets = [(_bound(bound), sum(1 for s in seconds if s <= bound)) for bound in REVIEW_BUCKETS]
        yield HistogramMetricFamily("reviewbot_review_seconds", "Time of each stored review",
                                    buckets=buckets, sum_value=sum(seconds))


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else f"{bound:g}"
