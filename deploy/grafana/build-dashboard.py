#!/usr/bin/env python3
"""Writes execution-orchestrator.json, the Grafana dashboard of the service's Prometheus series
(docs/operations.md, "Dashboards"). Edit the panels here and run it: python3 deploy/grafana/build-dashboard.py"""
import json
import os

DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
panels = []
y = 0


def row(title):
    global y
    panels.append({"type": "row", "title": title, "collapsed": False, "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
    y += 1


def ts(title, exprs, unit="short", x=0, w=8, desc="", thresholds=None):
    p = {
        "type": "timeseries", "title": title, "description": desc, "datasource": DS,
        "gridPos": {"h": 8, "w": w, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"datasource": DS, "expr": e, "legendFormat": l, "refId": chr(65 + i)} for i, (e, l) in enumerate(exprs)],
    }
    if thresholds:
        p["fieldConfig"]["defaults"]["thresholds"] = {"mode": "absolute", "steps": thresholds}
        p["fieldConfig"]["defaults"]["custom"] = {"thresholdsStyle": {"mode": "line"}}
    panels.append(p)


def line(*specs):
    global y
    x = 0
    for spec in specs:
        w = spec.pop("w", 24 // len(specs))
        ts(x=x, w=w, **spec)
        x += w
    y += 8


q = lambda p, m, by="": f"histogram_quantile({p}, sum by (le{', ' + by if by else ''}) (rate({m}_bucket[5m])))"

row("Executions")
line(
    dict(title="Not yet ended, by status", exprs=[("sum by (status) (eo_executions)", "{{status}}")], desc="api: queued and running. Queued growing steadily: workers down or capacity too small."),
    dict(title="Capacity queue", exprs=[("sum by (state) (eo_capacity_reservations)", "{{state}}")], desc="api: slots held (≤ CAPACITY_GLOBAL) and executions waiting for one."),
    dict(title="Ended per second, by status", exprs=[("sum by (status) (rate(eo_executions_total{status!=\"running\"}[5m]))", "{{status}}")], unit="ops", desc="worker. 'error' should stay near 0."),
)
line(
    dict(title="Queue wait p50 / p99", exprs=[(q(0.5, "eo_execution_queue_wait_seconds"), "p50"), (q(0.99, "eo_execution_queue_wait_seconds"), "p99")], unit="s", desc="worker: submission to running."),
    dict(title="Run duration p99 by language", exprs=[(q(0.99, "eo_execution_run_duration_seconds", "language"), "{{language}}")], unit="s"),
    dict(title="Runner failures per second, by type", exprs=[("sum by (type) (rate(eo_runner_failures_total[5m]))", "{{type}}")], unit="ops", desc="worker: should be 0."),
)
row("Relay and outbox")
line(
    dict(title="Published per second, by event type", exprs=[("sum by (event_type) (rate(eo_relay_published_total[5m]))", "{{event_type}}")], unit="ops"),
    dict(title="Publish latency p99", exprs=[(q(0.99, "eo_relay_publish_duration_seconds", "outcome"), "{{outcome}}")], unit="s", desc="Normal: tens of ms."),
    dict(title="Circuit open (Kafka unreachable)", exprs=[("max(eo_relay_circuit_open)", "open")], thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 1}]),
)
line(
    dict(title="Outbox lag (oldest unpublished event)", exprs=[("max(eo_relay_outbox_lag_seconds)", "relay"), ("max(eo_outbox_oldest_pending_age_seconds)", "api")], unit="s", thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 5}, {"color": "red", "value": 60}]),
    dict(title="Outbox pending and DLQ", exprs=[("max(eo_relay_outbox_pending_events)", "pending"), ("max(eo_relay_dlq_events)", "dead letters")]),
    dict(title="Publish failures per second, by kind", exprs=[("sum by (kind) (rate(eo_relay_publish_failures_total[5m]))", "{{kind}}")], unit="ops"),
)
row("API")
line(
    dict(title="Request latency p99 by route", exprs=[(q(0.99, "eo_http_request_duration_seconds{route!~\".*/stream\"}", "route, method").replace("{route!~\".*/stream\"}_bucket", "_bucket{route!~\".*/stream\"}"), "{{method}} {{route}}")], unit="s", w=12),
    dict(title="Requests per second by status", exprs=[("sum by (status) (rate(eo_http_request_duration_seconds_count[5m]))", "{{status}}")], unit="reqps", w=6),
    dict(title="Postgres reachable", exprs=[("min(eo_database_up)", "api"), ("min(eo_relay_backlog_readable)", "relay")], w=6),
)
row("Temporal worker (SDK)")
line(
    dict(title="Workflow task schedule-to-start p99", exprs=[(q(0.99, "temporal_workflow_task_schedule_to_start_latency", "task_queue"), "{{task_queue}}")], unit="ms", desc="Seconds here: too few workers or slots."),
    dict(title="Activity schedule-to-start p99", exprs=[(q(0.99, "temporal_activity_schedule_to_start_latency", "task_queue"), "{{task_queue}}")], unit="ms"),
    dict(title="Activity execution failures per second", exprs=[("sum by (activity_type) (rate(temporal_activity_execution_failed[5m]))", "{{activity_type}}")], unit="ops", desc="deliverCompletionWebhook failures are receivers answering non-2xx."),
)

dashboard = {
    "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource", "pluginId": "prometheus", "pluginName": "Prometheus"}],
    "title": "execution-orchestrator",
    "uid": "execution-orchestrator",
    "tags": ["execution-orchestrator"],
    "timezone": "utc",
    "schemaVersion": 39,
    "refresh": "30s",
    "time": {"from": "now-6h", "to": "now"},
    "templating": {"list": []},
    "panels": [dict(p, id=i + 1) for i, p in enumerate(panels)],
}
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "execution-orchestrator.json")
with open(out, "w") as f:
    json.dump(dashboard, f, indent=2)
    f.write("\n")
print(out)
