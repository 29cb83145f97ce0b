#!/usr/bin/env python3
"""Write the Grafana dashboards (dashboards/*.json) with the Grafana Foundation SDK (PyPI
`grafana-foundation-sdk`, Apache-2.0: typed builders for dashboards, panels, queries and
variables) from the panel tables below. The JSON is committed; tests lint it (a unit, a
description and explicit thresholds on every panel, rate-based heatmaps, no panel off or over
another on the grid) and run every query against a real Prometheus, so edit here, re-run, and
commit both. Conventions: datasource as a variable, job/instance/scenario/model variables,
$__rate_interval in every rate, stable uids and ids, drift on means, tails on quantiles.

  target/tools-venv/bin/python scripts/gen-dashboards.py            # write them
  target/tools-venv/bin/python scripts/gen-dashboards.py --check    # exit 1 naming stale files

scripts/test.sh installs the SDK into target/tools-venv."""
import json
import sys
import tomllib
from pathlib import Path

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import heatmap, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import heatmap as hm
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

ROOT = Path(__file__).resolve().parent.parent
DS = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
S = 'job=~"$job", instance=~"$instance", llmsoak_target=~"$target", llmsoak_scenario=~"$scenario", gen_ai_request_model=~"$model"'
P = 'job=~"$job", instance=~"$instance"'
RI = "$__rate_interval"


def tpot_mean(sel=S, win=RI, off=""):
    return (f"sum(rate(llmsoak_request_time_per_output_token_seconds_sum{{{sel}}}[{win}]{off})) / "
            f"sum(rate(llmsoak_request_time_per_output_token_seconds_count{{{sel}}}[{win}]{off}))")


def q(quantile, metric, sel=S, by=""):
    by = f"le, {by}" if by else "le"
    return f"histogram_quantile({quantile}, sum by ({by}) (rate({metric}_bucket{{{sel}}}[{RI}])))"


# Latency series are split by target and scenario: an A/B soak or a multi-scenario run is never
# blended into one line.
SPLIT = "llmsoak_target, llmsoak_scenario"
LEG = "{{llmsoak_target}} {{llmsoak_scenario}}"


def mean_by(metric, sel=S, off=""):
    return (f"sum by ({SPLIT}) (rate({metric}_sum{{{sel}}}[{RI}]{off})) / "
            f"sum by ({SPLIT}) (rate({metric}_count{{{sel}}}[{RI}]{off}))")


def steps(*pairs, base="green"):
    """Explicit thresholds (Grafana's default paints anything above 80 red): `base` below the
    first value, then each (value, colour)."""
    return (db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE)
            .steps([dm.Threshold(value=None, color=base)] + [dm.Threshold(value=v, color=c) for v, c in pairs]))


# A 0/1 gauge shown as DOWN / UP.
UP_DOWN = [dm.ValueMap(options={"0": dm.ValueMappingResult(text="DOWN", color="red"),
                                                  "1": dm.ValueMappingResult(text="UP", color="green")})]

KINDS = {"timeseries": timeseries.Panel, "stat": stat.Panel, "heatmap": heatmap.Panel}


class Board:
    """A dashboard's panels in reading order. Each panel goes right of the last while it fits
    in Grafana's 24 columns, else on a new line; a row starts a new line. The SDK's own placing
    (it wraps only after a line is full) would put a panel past the right edge; `lint` checks no
    panel does."""

    def __init__(self):
        self.items, self.next_id, self.y = [], 1, 0
        self.x, self.line_h, self.row = 0, 0, None

    def _newline(self):
        if self.x:
            self.y += self.line_h
        self.x, self.line_h = 0, 0

    def add_row(self, title, collapsed=False):
        self._newline()
        row = db.Row(title).id(self.next_id).collapsed(collapsed).grid_pos(dm.GridPos(h=1, w=24, x=0, y=self.y))
        self.next_id += 1
        self.y += 1
        self.items.append(("row", row))
        self.row = row if collapsed else None

    def panel(self, kind, title, unit, description, targets, w=12, h=8, thresholds=None, mappings=None):
        if self.x + w > 24:
            self._newline()
        p = (KINDS[kind]().id(self.next_id).title(title).description(description).datasource(DS).unit(unit)
             .thresholds(thresholds or steps()).grid_pos(dm.GridPos(h=h, w=w, x=self.x, y=self.y)))
        for i, (expr, legend) in enumerate(targets):
            t = prometheus.Dataquery().datasource(DS).ref_id(chr(65 + i)).expr(expr).legend_format(legend)
            p.with_target(t.format(PromQueryFormat.HEATMAP) if kind == "heatmap" else t)
        if kind == "heatmap":
            p.calculate(False).y_axis(heatmap.YAxisConfig().unit(unit)).cell_gap(1).color(
                heatmap.HeatmapColorOptions().mode(hm.HeatmapColorMode.SCHEME).scheme("Oranges")).show_tooltip().show_y_histogram()
        if kind == "stat":
            p.reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"])).color_mode(cm.BigValueColorMode.VALUE)
        if mappings:
            p.mappings(mappings)
        self.next_id += 1
        self.x += w
        self.line_h = max(self.line_h, h)
        if self.row:
            self.row.with_panel(p)
        else:
            self.items.append(("panel", p))


def query_var(name, query, label=None):
    return (db.QueryVariable(name).label(label or name).datasource(DS).query(query).include_all(True)
            .all_value(".*").multi(True).refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED))


def variables(server_job=False, requests=True):
    """Data source, job, run (its run id picks its instances), instance; for the request panels
    target, scenario and model too; for the engine rows the server's job."""
    v = [
        db.DatasourceVariable("datasource").label("Data source").type("prometheus"),
        query_var("job", "label_values(llmsoak_run_info, job)"),
        query_var("run", 'label_values(llmsoak_run_info{job=~"$job"}, llmsoak_run_id)'),
        query_var("instance", 'label_values(llmsoak_run_info{job=~"$job", llmsoak_run_id=~"$run"}, instance)'),
    ]
    if requests:
        v += [query_var(n, f'label_values(llmsoak_requests_started_total{{job=~"$job"}}, {label})')
              for n, label in (("target", "llmsoak_target"), ("scenario", "llmsoak_scenario"),
                               ("model", "gen_ai_request_model"))]
    if server_job:
        v.append(query_var("server_job", "label_values(up, job)", "server job"))
    return v


class PromAnnotation(dm.AnnotationQuery):
    """An annotation from a Prometheus query: the SDK's AnnotationQuery plus the Prometheus
    data source's own fields (step, title and tags from the series)."""

    def __init__(self, name, expr, color, title):
        super().__init__(name=name, datasource=DS, enable=True, icon_color=color, expr=expr)
        self.title = title

    def to_json(self):
        return {**super().to_json(), "step": "1m", "titleFormat": self.title, "tagKeys": "job,instance"}


class Built:
    """A finished SDK model where the SDK wants a builder."""

    def __init__(self, model):
        self.model = model

    def build(self):
        return self.model


def annotations():
    """Events from the daemon's own series, drawn on every time series panel."""
    return [Built(PromAnnotation(*a)) for a in (
        ("Phase changes", f"changes(llmsoak_schedule_phase{{{P}}}[1m]) > 0", "blue", "load phase changed"),
        ("Config reloads", f"changes(llmsoak_config_last_reload_timestamp_seconds{{{P}}}[1m]) > 0", "purple",
         "config reloaded"),
        ("Target restarts", f"increase(llmsoak_target_process_restarts_total{{{P}}}[1m]) > 0", "red",
         "target server restarted"),
        ("Baseline set", f"changes(llmsoak_baseline_samples{{{P}}}[1m]) > 0", "green", "drift baseline set"),
    )]


def dashboard(uid, title, board, tags, server_job=False, requests=True):
    d = (db.Dashboard(title).uid(uid).tags(tags).readonly().timezone("browser").refresh("30s")
         .time("now-6h", "now").version(1).variables(variables(server_job, requests)).annotations(annotations())
         .description("llm-soak: client-side token latency, drift, load-generator health and resources. "
                      "Generated by scripts/gen-dashboards.py (Grafana Foundation SDK)."))
    for kind, item in board.items:
        d.with_row(item) if kind == "row" else d.with_panel(item)
    return d.build()


def engine_maps():
    """The engine mapping tables llm-soak reads (daemon/src/engine/maps): one server row each."""
    return [tomllib.loads(f.read_text()) for f in sorted((ROOT / "daemon/src/engine/maps").glob("*.toml"))]


def engine_row(b, m):
    """One collapsed row of an engine's own metrics, from its mapping table: the current name of
    each word it has (the first listed), on the jobs that export it ($server_job)."""
    name = lambda kind, word: (m.get(kind, {}).get(word) or [None])[0]
    E = 'job=~"$server_job"'
    engine = m["engine"]
    b.add_row(f"Target server: {engine} ({m['release']})", collapsed=True)
    hist = lambda w: name("histograms", w)
    first = "ttft" if hist("ttft") else "e2e" if hist("e2e") else None
    if first:
        client = "llmsoak_request_time_to_first_token_seconds" if first == "ttft" else "gen_ai_client_operation_duration_seconds"
        server = f"histogram_quantile(0.5, sum by (le) (rate({hist(first)}_bucket{{{E}}}[{RI}])))"
        b.panel("timeseries", f"Client vs server {first.upper() if first == 'ttft' else 'e2e'} p50", "s",
                f"llm-soak's p50 next to {engine}'s own (interpolated within its buckets: approximate), and the gap: "
                "network, gateway and the HTTP layer outside the engine's clock.",
                [(q(0.5, client), "client p50"), (server, f"{engine} p50"), (f"{q(0.5, client)} - {server}", "client - server")])
    phases = [(w, hist(w)) for w in ("queue", "prefill", "decode", "inference", "itl") if hist(w)]
    if phases:
        b.panel("timeseries", "Server-timed phases (means)", "s",
                f"{engine}'s own per-request times, exact means from _sum / _count: where the latency goes "
                "(queue = waiting for a batch slot).",
                [(f"sum(rate({n}_sum{{{E}}}[{RI}])) / sum(rate({n}_count{{{E}}}[{RI}]))", w) for w, n in phases])
    c = lambda w: name("counters", w)
    if c("prefill_seconds") and c("prompt_tokens"):
        b.panel("timeseries", "Prefill and decode per token (derived)", "s",
                f"{engine} keeps only time counters: seconds per prompt token and per generated token (means).",
                [(f"sum(rate({c('prefill_seconds')}{{{E}}}[{RI}])) / sum(rate({c('prompt_tokens')}{{{E}}}[{RI}]))", "prefill / token"),
                 (f"sum(rate({c('decode_seconds')}{{{E}}}[{RI}])) / sum(rate({c('generation_tokens')}{{{E}}}[{RI}]))", "decode / token")])
    g = lambda w: name("gauges", w)
    load = [(f"sum({g(w)}{{{E}}})", w) for w in ("waiting", "running") if g(w)]
    if load:
        b.panel("timeseries", "Requests waiting and running", "short",
                f"{engine}'s queue and batch: waiting grows first when the server saturates.", load)
    if g("kv_usage"):
        b.panel("timeseries", "KV-cache usage", "percentunit", f"{engine}'s KV-cache usage (mean over its ranks).",
                [(f"avg({g('kv_usage')}{{{E}}})", "KV usage")])
    if c("preemptions"):
        b.panel("timeseries", "Preemptions", "short", f"Sequences {engine} preempted per second (KV pressure).",
                [(f"sum(rate({c('preemptions')}{{{E}}}[{RI}]))", "preemptions/s")])
    if c("prefix_hits") and c("prefix_queries"):
        b.panel("timeseries", "Prefix-cache hit ratio", "percentunit", f"{engine}'s prefix-cache hits over queried tokens.",
                [(f"sum(rate({c('prefix_hits')}{{{E}}}[{RI}])) / sum(rate({c('prefix_queries')}{{{E}}}[{RI}]))", "hit ratio")])
    gen = c("generation_tokens") or (f"{m['histogram_sums']['generation_tokens'][0]}_sum" if "generation_tokens" in m.get("histogram_sums", {}) else None)
    if gen:
        b.panel("timeseries", "Output tokens/s: llm-soak vs the engine", "short",
                "The tokens llm-soak received against those the engine generated: equal when llm-soak is its only client.",
                [(f"sum(rate(llmsoak_tokens_output_total{{{S}}}[{RI}]))", "llm-soak"),
                 (f"sum(rate({gen}{{{E}}}[{RI}]))", engine)])


def overview():
    b = Board()
    b.add_row("Overview")
    b.panel("stat", "Success rate", "reqps", "Successful requests per second.",
            [(f'sum(rate(llmsoak_requests_total{{{S}, outcome="success"}}[{RI}]))', "success")], w=4, h=4)
    b.panel("stat", "Error ratio", "percentunit",
            "Failed (error, timeout) share of finished requests; cancellations (drain, reload) are excluded. "
            "Amber from 0.1 % (the availability SLO's budget), red from 1 %.",
            [(f'sum(rate(llmsoak_requests_total{{{S}, outcome=~"error|timeout"}}[{RI}])) / '
              f'sum(rate(llmsoak_requests_total{{{S}, outcome!~"cancelled|aborted"}}[{RI}]))', "errors")], w=4, h=4,
            thresholds=steps((0.001, "orange"), (0.01, "red")))
    b.panel("stat", "TTFT p95", "s", "95th percentile time to first token (successful requests); red above the 1 s SLO.",
            [(q(0.95, "llmsoak_request_time_to_first_token_seconds"), "p95")], w=4, h=4,
            thresholds=steps((0.8, "orange"), (1.0, "red")))
    b.panel("stat", "TPOT vs baseline", "percentunit",
            "Mean time per output token now, divided by the baseline llm-soak set after its warm-up (1 = no drift); "
            "the drift alert fires above 1.15.",
            [(f'({tpot_mean()}) / max(llmsoak_baseline_time_per_output_token_seconds{{{S}, stat="mean"}})', "ratio")],
            w=4, h=4, thresholds=steps((1.1, "orange"), (1.15, "red")))
    b.panel("stat", "Canary", "none", "Last canary probe: UP succeeded, DOWN failed or no canary reporting.",
            [(f"min(llmsoak_canary_success{{{P}}}) or vector(0)", "canary")], w=4, h=4,
            thresholds=steps((1, "green")), mappings=UP_DOWN)
    b.panel("stat", "Soak elapsed", "dtdurations", "Time since the run started.",
            [(f"time() - min(llmsoak_run_start_time_seconds{{{P}}})", "elapsed")], w=4, h=4)

    b.add_row("Latency")
    b.panel("timeseries", "TTFT p50, p99 and mean by target and scenario", "s",
            "Time to first token: p50 and p99 from the histogram, mean exact from sum/count, per target and scenario.",
            [(q(x, "llmsoak_request_time_to_first_token_seconds", by=SPLIT), f"{LEG} p{int(x*100)}") for x in (0.5, 0.99)]
            + [(mean_by("llmsoak_request_time_to_first_token_seconds"), f"{LEG} mean")])
    b.panel("heatmap", "TTFT distribution", "s", "Requests per second in each TTFT bucket (rate, not overlapping increases).",
            [(f"sum by (le) (rate(llmsoak_request_time_to_first_token_seconds_bucket{{{S}}}[{RI}]))", "{{le}}")])
    b.panel("timeseries", "TPOT mean, p99 and baseline by target and scenario", "s",
            "Time per output token: the mean (the drift signal) with each target's baseline next to it; p99 for the tail.",
            [(mean_by("llmsoak_request_time_per_output_token_seconds"), f"{LEG} mean"),
             (q(0.99, "llmsoak_request_time_per_output_token_seconds", by=SPLIT), f"{LEG} p99"),
             (f'max by ({SPLIT}) (llmsoak_baseline_time_per_output_token_seconds{{{S}, stat="mean"}})', f"{LEG} baseline")])
    b.panel("heatmap", "TPOT distribution", "s", "Requests per second in each TPOT bucket.",
            [(f"sum by (le) (rate(llmsoak_request_time_per_output_token_seconds_bucket{{{S}}}[{RI}]))", "{{le}}")])
    b.panel("heatmap", "Inter-chunk latency distribution", "s", "Gaps between consecutive content events per second, by bucket.",
            [(f"sum by (le) (rate(gen_ai_client_operation_time_per_output_chunk_seconds_bucket{{{S}}}[{RI}]))",
              "{{le}}")])
    b.panel("heatmap", "End-to-end duration distribution", "s", "Finished requests per second in each duration bucket.",
            [(f"sum by (le) (rate(gen_ai_client_operation_duration_seconds_bucket{{{S}}}[{RI}]))", "{{le}}")])
    b.panel("timeseries", "End-to-end duration by target and scenario", "s",
            "Request duration p50 and p99 (all finished, non-cancelled).",
            [(q(x, "gen_ai_client_operation_duration_seconds", by=SPLIT), f"{LEG} p{int(x*100)}") for x in (0.5, 0.99)])
    b.panel("timeseries", "Time to first answer token", "s",
            "TTFA: to the first content that is not reasoning (differs from TTFT for reasoning models).",
            [(q(x, "llmsoak_request_time_to_first_answer_token_seconds", by=SPLIT), f"{LEG} p{int(x*100)}")
             for x in (0.5, 0.99)])
    b.panel("timeseries", "Corrected TTFT (from the scheduled send time)", "s",
            "TTFT measured from when the schedule wanted the request sent: includes the client's own lateness.",
            [(q(0.99, "llmsoak_request_corrected_time_to_first_token_seconds", by=SPLIT), f"{LEG} corrected p99"),
             (q(0.99, "llmsoak_request_time_to_first_token_seconds", by=SPLIT), f"{LEG} p99")])
    b.panel("heatmap", "Input length distribution", "short", "Requests per second by input tokens (usage).",
            [(f'sum by (le) (rate(gen_ai_client_token_usage_bucket{{{S}, gen_ai_token_type="input"}}[{RI}]))', "{{le}}")])
    b.panel("heatmap", "Output length distribution", "short", "Requests per second by output tokens (usage).",
            [(f'sum by (le) (rate(gen_ai_client_token_usage_bucket{{{S}, gen_ai_token_type="output"}}[{RI}]))', "{{le}}")])

    b.add_row("Drift")
    b.panel("timeseries", "TPOT vs start of range", "percentunit",
            "Mean TPOT now divided by the mean TPOT at the start of the dashboard's range.",
            [(f"({tpot_mean()}) / scalar(sum(rate(llmsoak_request_time_per_output_token_seconds_sum{{{S}}}[{RI}] @ start())) / "
              f"sum(rate(llmsoak_request_time_per_output_token_seconds_count{{{S}}}[{RI}] @ start())))", "now / start")])
    R30 = 'job=~"$job", llmsoak_target=~"$target", llmsoak_scenario=~"$scenario", gen_ai_request_model=~"$model"'
    JOIN = "job, llmsoak_target, llmsoak_scenario, gen_ai_request_model"
    b.panel("timeseries", "TPOT vs yesterday", "percentunit",
            "30-minute mean TPOT divided by the same series a day earlier (recording rule llmsoak:tpot_seconds:mean30m).",
            [(f'llmsoak:tpot_seconds:mean30m{{{R30}}} / (llmsoak:tpot_seconds:mean30m{{{R30}}} offset 1d)', LEG)],
            thresholds=steps((1.15, "red")))
    b.panel("timeseries", "TPOT vs baseline", "percentunit",
            "Mean TPOT over 30 minutes divided by each target's baseline; the drift alert fires above 1.15.",
            [(f'llmsoak:tpot_seconds:mean30m{{{R30}}} / on ({JOIN}) '
              f'max by ({JOIN}) (llmsoak_baseline_time_per_output_token_seconds{{stat="mean"}})', LEG)],
            thresholds=steps((1.15, "red")))
    b.panel("timeseries", "TTFT vs baseline", "percentunit",
            "Mean TTFT over 30 minutes divided by each target's baseline; the drift alert fires above 1.25.",
            [(f'llmsoak:ttft_seconds:mean30m{{{R30}}} / on ({JOIN}) '
              f'max by ({JOIN}) (llmsoak_baseline_time_to_first_token_seconds{{stat="mean"}})', LEG)],
            thresholds=steps((1.25, "red")))
    b.panel("timeseries", "TTFT p95 vs start of range", "percentunit",
            "TTFT p95 now divided by the p95 at the start of the range (a tail, so a quantile).",
            [(f"{q(0.95, 'llmsoak_request_time_to_first_token_seconds')} / scalar(histogram_quantile(0.95, sum by (le) "
              f"(rate(llmsoak_request_time_to_first_token_seconds_bucket{{{S}}}[{RI}] @ start()))))", "now / start")])

    b.add_row("Load and client health")
    b.panel("timeseries", "Offered vs achieved rate", "reqps",
            "The load shape's offered rate and the rate at which requests were really started.",
            [(f"sum(llmsoak_schedule_target_rate_per_second{{{P}}})", "offered"),
             (f"sum(rate(llmsoak_requests_started_total{{{S}}}[{RI}]))", "started")])
    b.panel("timeseries", "In flight, limit and users", "short",
            "Requests in flight and the open loop's cap (0 in a closed loop), or the closed loop's users.",
            [(f"sum(llmsoak_requests_in_flight{{{P}}})", "in flight"), (f"sum(llmsoak_concurrency_limit{{{P}}})", "limit"),
             (f"sum(llmsoak_users_active{{{P}}})", "users")])
    b.panel("timeseries", "Schedule lag and client lag p99", "s",
            "How late llm-soak sent requests against its schedule, and how late its own timestamps are "
            "(the trust probe): above ~2 ms the client limits its own numbers.",
            [(q(0.99, "llmsoak_schedule_lag_seconds", P), "schedule lag p99"),
             (q(0.99, "llmsoak_client_lag_seconds", P), "client lag p99")],
            thresholds=steps((0.002, "orange"), (0.1, "red")))
    b.panel("timeseries", "Dropped arrivals", "reqps", "Arrivals not sent, by reason.",
            [(f"sum by (reason) (rate(llmsoak_schedule_dropped_total{{{P}}}[{RI}]))", "{{reason}}")])
    b.panel("timeseries", "Output tokens per second", "short", "Output tokens received per second, by where the count came from.",
            [(f"sum by (llmsoak_token_source) (rate(llmsoak_tokens_output_total{{{S}}}[{RI}]))", "{{llmsoak_token_source}}"),
             (f"sum(rate(llmsoak_tokens_hidden_reasoning_total{{{S}}}[{RI}]))", "hidden reasoning")])
    b.panel("timeseries", "Token count agreement", "short",
            "Median of client re-count / server usage for sampled requests: 1 means the tokenizer agrees.",
            [(q(0.5, "llmsoak_tokens_discrepancy"), "p50")])

    b.add_row("Errors")
    b.panel("timeseries", "Failures by outcome and type", "reqps",
            "Failed requests by outcome and error_type (cut off by a shutdown: cancelled, apart).",
            [(f'sum by (outcome, error_type) (rate(llmsoak_requests_total{{{S}, outcome!~"success|aborted"}}[{RI}]))',
              "{{outcome}} {{error_type}}")])
    b.panel("timeseries", "Provoked: aborts and connections opened", "reqps",
            "Requests closed on purpose by a scenario's abort, and connections opened to each target "
            "(keep-alive: few; a scenario's connection.fresh: that share of requests more).",
            [(f'sum by (llmsoak_scenario) (rate(llmsoak_requests_total{{{S}, outcome="aborted"}}[{RI}]))',
              "aborted {{llmsoak_scenario}}"),
             (f'sum by (llmsoak_target) (rate(llmsoak_connections_opened_total{{job=~"$job", instance=~"$instance", llmsoak_target=~"$target"}}[{RI}]))',
              "connections {{llmsoak_target}}")])
    b.panel("timeseries", "Stream stalls and missing usage", "reqps",
            "Gaps above the stall threshold, and streams without a usage chunk.",
            [(f"sum(rate(llmsoak_stream_stalls_total{{{S}}}[{RI}]))", "stalls"),
             (f"sum(rate(llmsoak_tokens_usage_missing_total{{{S}}}[{RI}]))", "usage missing")])

    b.add_row("SLO")
    SLO = 'job=~"$job", llmsoak_target=~"$target", llmsoak_scenario=~"$scenario"'
    b.panel("timeseries", "TTFT SLO burn rate", "short",
            "Budget burn of the TTFT SLO (99 % within 1 s; failures count as slow): the fast-burn alert fires at 14.4 (1h) / 6 (6h).",
            [(f'llmsoak:ttft_slow:ratio_rate{w}{{{SLO}}} / 0.01', f"{LEG} {w}") for w in ("5m", "1h", "6h")],
            thresholds=steps((6, "orange"), (14.4, "red")))
    b.panel("timeseries", "Availability burn rate", "short",
            "Budget burn of the 99.9 % availability SLO.",
            [(f'llmsoak:request_error:ratio_rate{w}{{{SLO}}} / 0.001', f"{LEG} {w}") for w in ("5m", "1h", "6h")],
            thresholds=steps((6, "orange"), (14.4, "red")))
    b.panel("stat", "TTFT budget used over the range", "percentunit",
            "Share of the TTFT error budget (1 % slower than 1 s or failed) spent in the dashboard's range.",
            [(f'(1 - sum(increase(llmsoak_request_time_to_first_token_seconds_bucket{{{S}, le=~"1(\\\\.0)?"}}[$__range])) / '
              f'sum(increase(llmsoak_requests_total{{{S}, outcome!~"cancelled|aborted"}}[$__range]))) / 0.01', "budget used")], w=6,
            thresholds=steps((0.5, "orange"), (1, "red")))

    b.add_row("Daemon health")
    b.panel("timeseries", "llm-soak memory and 4 h projection", "bytes",
            "Resident memory of llm-soak and where a linear fit over the last hour puts it in 4 hours.",
            [(f"process_resident_memory_bytes{{{P}}} or process_memory_usage_bytes{{{P}}}", "{{instance}} RSS"),
             (f"predict_linear(process_resident_memory_bytes{{{P}}}[1h], 4 * 3600)", "{{instance}} in 4h")])
    b.panel("timeseries", "File descriptors", "short", "Open fds against the limit.",
            [(f"process_open_fds{{{P}}} or llmsoak_process_open_fds{{{P}}}", "{{instance}} fds"),
             (f"process_max_fds{{{P}}} or llmsoak_process_max_fds{{{P}}}", "{{instance}} limit")])
    b.panel("timeseries", "llm-soak CPU", "short", "CPU of llm-soak, in cores.",
            [(f"rate(process_cpu_seconds_total{{{P}}}[{RI}])", "{{instance}} cores")])
    b.panel("timeseries", "Probes and exports", "short",
            "Resource probe status (0 ok, 1 unavailable, 2 no device, 3 not found, 4 partial, 5 error) and OTLP export failures.",
            [(f"max by (probe) (llmsoak_probe_status{{{P}}})", "{{probe}} status"),
             (f"sum(rate(llmsoak_otlp_export_failures_total{{{P}}}[{RI}]))", "OTLP failures/s")],
            thresholds=steps((3, "red")))
    b.panel("timeseries", "Config reloads", "short", "Whether the last reload succeeded (1) or was refused (0).",
            [(f"min(llmsoak_config_last_reload_successful{{{P}}})", "last reload ok")])

    b.add_row("GPU, host and target process")
    b.panel("timeseries", "GPU utilization", "percentunit", "NVML utilization per GPU (llm-soak's sampler).",
            [(f"hw_gpu_utilization_ratio{{{P}}}", "{{hw_id}}")])
    b.panel("timeseries", "GPU memory used and limit", "bytes", "GPU memory per GPU; creep here is a server-side leak.",
            [(f"hw_gpu_memory_usage_bytes{{{P}}}", "{{hw_id}} used"), (f"hw_gpu_memory_limit_bytes{{{P}}}", "{{hw_id}} limit")])
    b.panel("timeseries", "GPU power", "watt", "Power draw per GPU.",
            [(f"hw_power_watts{{{P}}}", "{{hw_id}}")], w=8)
    b.panel("timeseries", "GPU temperature", "celsius", "Temperature per GPU.",
            [(f"hw_temperature_celsius{{{P}}}", "{{hw_id}}")], w=8, thresholds=steps((80, "orange"), (90, "red")))
    b.panel("timeseries", "GPU SM clock", "hertz", "Streaming-multiprocessor clock per GPU: a busy GPU below its usual clock is throttling.",
            [(f"hw_gpu_clock_sm_hertz{{{P}}}", "{{hw_id}}")], w=8)
    b.panel("timeseries", "Energy per output token", "joule",
            "GPU energy divided by output tokens received (all GPUs llm-soak samples).",
            [(f"sum(rate(hw_energy_joules_total{{{P}}}[{RI}])) / "
              f'sum(rate(gen_ai_client_token_usage_sum{{{S}, gen_ai_token_type="output"}}[{RI}]))', "J/token")])
    b.panel("timeseries", "Target process memory", "bytes",
            "RSS of the co-located server process tree and its 4 h projection.",
            [(f"llmsoak_target_process_memory_usage_bytes{{{P}}}", "{{llmsoak_target}} RSS"),
             (f"predict_linear(llmsoak_target_process_memory_usage_bytes{{{P}}}[2h], 4 * 3600)", "{{llmsoak_target}} in 4h")])
    b.panel("timeseries", "Target process CPU and fds", "short", "The server process's CPU (cores) and open fds.",
            [(f"llmsoak_target_process_cpu_utilization_ratio{{{P}}}", "{{llmsoak_target}} cores"),
             (f"llmsoak_target_process_open_fds{{{P}}}", "{{llmsoak_target}} fds")])
    b.panel("stat", "Target restarts over the range", "short", "New pids of the target server process in the range: a soak's main verdict.",
            [(f"sum(increase(llmsoak_target_process_restarts_total{{{P}}}[$__range]))", "restarts")], w=6,
            thresholds=steps((1, "red")))
    b.panel("timeseries", "Host CPU and memory", "percentunit", "Host CPU utilization and used memory share.",
            [(f"system_cpu_utilization_ratio{{{P}}}", "cpu"),
             (f'system_memory_usage_bytes{{{P}, system_memory_state="used"}} / on (job, instance) system_memory_limit_bytes{{{P}}}', "memory")])

    for m in engine_maps():
        engine_row(b, m)
    return dashboard("llm-soak-overview", "llm-soak overview", b, ["llm-soak", "llm"], server_job=True)


def canary():
    b = Board()
    C = 'job=~"$job", instance=~"$instance", llmsoak_scenario="canary"'
    b.add_row("Canary")
    b.panel("stat", "Canary", "none", "Last probe: UP succeeded, DOWN failed — or no canary reporting at all.",
            [(f"min(llmsoak_canary_success{{{P}}}) or vector(0)", "canary")], w=6, h=4,
            thresholds=steps((1, "green")), mappings=UP_DOWN)
    b.panel("stat", "Since last success", "s", "Seconds since the last successful probe; the alert fires after 600.",
            [(f"time() - max(llmsoak_canary_last_success_timestamp_seconds{{{P}}})", "age")], w=6, h=4,
            thresholds=steps((300, "orange"), (600, "red")))
    b.panel("stat", "Availability over the range", "percentunit", "Successful probes over all probes in the range.",
            [(f'sum(increase(llmsoak_canary_probes_total{{{P}, outcome="success"}}[$__range])) / '
              f"sum(increase(llmsoak_canary_probes_total{{{P}}}[$__range]))", "availability")], w=6, h=4,
            thresholds=steps((0.99, "orange"), (0.999, "green"), base="red"))
    b.panel("stat", "Probes per minute", "short", "Probes sent per minute (zero means the loop is stuck).",
            [(f"sum(rate(llmsoak_canary_probes_total{{{P}}}[{RI}])) * 60", "probes/min")], w=6, h=4)
    b.panel("timeseries", "Probes by outcome", "reqps", "Canary probes per second by outcome.",
            [(f"sum by (outcome) (rate(llmsoak_canary_probes_total{{{P}}}[{RI}]))", "{{outcome}}")])
    b.panel("timeseries", "Failed checks", "reqps", "Failed canary checks by check (status, stream, usage, tokens, answer).",
            [(f"sum by (check) (rate(llmsoak_canary_check_failures_total{{{P}}}[{RI}]))", "{{check}}")])
    b.add_row("Canary latency")
    b.panel("timeseries", "Canary TTFT", "s", "TTFT of the canary's probes: p50 and p95, and the exact mean.",
            [(q(0.5, "llmsoak_request_time_to_first_token_seconds", C), "p50"),
             (q(0.95, "llmsoak_request_time_to_first_token_seconds", C), "p95"),
             (f"sum(rate(llmsoak_request_time_to_first_token_seconds_sum{{{C}}}[{RI}])) / "
              f"sum(rate(llmsoak_request_time_to_first_token_seconds_count{{{C}}}[{RI}]))", "mean")])
    b.panel("timeseries", "Canary TPOT vs baseline and yesterday", "s",
            "Mean TPOT of the probes, the baseline, and the same mean a day ago.",
            [(tpot_mean(C), "mean"), (f'max(llmsoak_baseline_time_per_output_token_seconds{{{C}, stat="mean"}})', "baseline"),
             (tpot_mean(C, off=" offset 1d"), "yesterday")])
    return dashboard("llm-soak-canary", "llm-soak canary", b, ["llm-soak", "llm", "canary"], requests=False)


def render():
    return {f"dashboards/{name}": json.dumps(d, cls=JSONEncoder, indent=2, ensure_ascii=False) + "\n"
            for name, d in (("llm-soak-overview.json", overview()), ("llm-soak-canary.json", canary()))}


def main():

    check = "--check" in sys.argv[1:]
    stale = []
    for rel, text in render().items():
        path = ROOT / rel
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(rel)
        else:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        sys.exit("not what scripts/gen-dashboards.py writes (run it and commit): " + ", ".join(stale))


if __name__ == "__main__":
    main()
