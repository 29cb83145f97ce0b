#!/usr/bin/env python3
"""Write alerts/tests/llm-soak.test.yml: a promtool unit test per alert that fires it (with its
exact labels and annotations) and cases where it must not fire. Annotations are rendered from
alerts/llm-soak.alerts.yml so the test pins the shipped text; values that depend on $value are
given per case. Re-run after changing an alert; CI runs the committed file with promtool."""
import re, sys, yaml, json
from pathlib import Path

root = Path(__file__).resolve().parent.parent
alerts = {r["alert"]: r for g in yaml.safe_load((root / "alerts/llm-soak.alerts.yml").read_text())["groups"] for r in g["rules"]}

def ann(name, labels, value_text=None):
    a = dict(alerts[name]["annotations"])
    out = {}
    for k, v in a.items():
        v = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), v)
        if "{{ $value" in v:
            v = re.sub(r"\{\{ \$value[^}]*\}\}", value_text, v)
        out[k] = v
    return out

def fire(name, eval_time, label_sets, value_text=None):
    return {"eval_time": eval_time, "alertname": name,
            "exp_alerts": [{"exp_labels": {**{"severity": alerts[name]["labels"]["severity"]}, **ls},
                            "exp_annotations": ann(name, ls, value_text)} for ls in label_sets]}

def quiet(name, eval_time):
    return {"eval_time": eval_time, "alertname": name}

NEVER = 4102444800  # llmsoak_run_planned_end_timestamp_seconds of a run without an end
R = 'gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="m1",server_address="10.0.0.7",server_port="8000",llmsoak_target="vllm",llmsoak_scenario="steady"'
RB = R.replace('llmsoak_target="vllm"', 'llmsoak_target="vllm-b"')
RC = R.replace('llmsoak_scenario="steady"', 'llmsoak_scenario="canary"')
J = 'job="llm-soak",instance="a:9464"'
JB = 'job="llm-soak",instance="b:9464"'
JC = 'job="llm-soak",instance="c:9464"'
JD = 'job="llm-soak",instance="d:9464"'
MIB = 1048576
tests = []


def vals(f, n):
    """Explicit values f(0..n) (for curves promtool's notation cannot write)."""
    return " ".join(f"{f(m):.0f}" for m in range(n + 1))


def steps(f, n):
    return vals(f, n)


# Client memory leak: a leaks 1 MiB/min; b grows like a warm-up (fast, then slower); c steps up
# 50 MiB each hour (load phases, pools filling) and is flat between; d leaks on the OTLP name.
# Nothing may fire in the first 2 h (the warm-up guard).
tests.append({"interval": "1m", "input_series": [
    {"series": f'process_resident_memory_bytes{{{J}}}', "values": f"{100*MIB}+{MIB}x240"},
    {"series": f'process_resident_memory_bytes{{{JB}}}', "values": vals(lambda m: (100 + 30 * __import__("math").log(1 + m / 5)) * MIB, 240)},
    {"series": f'process_resident_memory_bytes{{{JC}}}', "values": vals(lambda m: (100 + 50 * (m // 60)) * MIB, 240)},
    {"series": f'process_memory_usage_bytes{{{JD}}}', "values": f"{100*MIB}+{MIB}x240"},
] + [{"series": f'llmsoak_run_start_time_seconds{{{j}}}', "values": "0x240"} for j in (J, JB, JC, JD)],
 "alert_rule_test": [
    quiet("LlmSoakClientMemoryLeak", "100m"),
    quiet("LlmSoakClientMemoryLeak", "150m"),
    fire("LlmSoakClientMemoryLeak", "230m", [{"job": "llm-soak", "instance": "a:9464"}, {"job": "llm-soak", "instance": "d:9464"}]),
]})

# File descriptors: a +10 fds/min towards 1024; b flat; c leaks on the OTLP names; d opens 800
# connections in its first 30 min (a warm-up) and stays there.
tests.append({"interval": "1m", "input_series": [
    {"series": f'process_open_fds{{{J}}}', "values": "100+10x120"},
    {"series": f'process_max_fds{{{J}}}', "values": "1024x120"},
    {"series": f'process_open_fds{{{JB}}}', "values": "100x120"},
    {"series": f'process_max_fds{{{JB}}}', "values": "1024x120"},
    {"series": f'llmsoak_process_open_fds{{{JC}}}', "values": "100+10x120"},
    {"series": f'llmsoak_process_max_fds{{{JC}}}', "values": "1024x120"},
    {"series": f'process_open_fds{{{JD}}}', "values": "0+27x30 810x90"},
    {"series": f'process_max_fds{{{JD}}}', "values": "1024x120"},
] + [{"series": f'llmsoak_run_start_time_seconds{{{j}}}', "values": "0x120"} for j in (J, JB, JC, JD)],
 "alert_rule_test": [
    quiet("LlmSoakFileDescriptorLeak", "50m"),
    fire("LlmSoakFileDescriptorLeak", "100m", [{"job": "llm-soak", "instance": "a:9464"}, {"job": "llm-soak", "instance": "c:9464"}]),
]})

# Daemon down: a stops answering at 10 m and stays down for 3 h (it must still be firing); a
# target of another job is down but is no llm-soak.
tests.append({"interval": "1m", "input_series": [
    {"series": f'up{{{J}}}', "values": "1x10 0x200"},
    {"series": 'up{job="node",instance="x"}', "values": "0x210"},
], "alert_rule_test": [
    quiet("LlmSoakDaemonDown", "13m"),
    fire("LlmSoakDaemonDown", "25m", [{"job": "llm-soak", "instance": "a:9464"}]),
    fire("LlmSoakDaemonDown", "3h", [{"job": "llm-soak", "instance": "a:9464"}]),
]})

# Runs: llm-soak-a (no end) dies at 30 m, its pod gone; llm-soak-b finishes as planned at 30 m;
# llm-soak-c (no end) fails its scrapes from 30 m (DaemonDown's case, not this one).
def run(job, shard, inst, end, minutes, up_after=None):
    lab = f'job="{job}",instance="{inst}"'
    out = [{"series": f'llmsoak_run_info{{{lab},llmsoak_run_id="r-{inst}",llmsoak_shard="{shard}",llmsoak_tls_unverified="none"}}', "values": f"1x{minutes}"},
           {"series": f'llmsoak_run_planned_end_timestamp_seconds{{{lab}}}', "values": f"{end}x{minutes}"},
           {"series": f'llmsoak_run_shards{{{lab}}}', "values": f"{shard.split('/')[1]}x{minutes}"}]
    if up_after is not None:
        out.append({"series": f'up{{{lab}}}', "values": f"1x{minutes} 0x{up_after}"})
    return out


tests.append({"interval": "1m", "input_series":
    run("llm-soak-a", "0/1", "a:9464", NEVER, 30)
    + run("llm-soak-b", "0/1", "b:9464", 1800, 30)
    + run("llm-soak-c", "0/1", "c:9464", NEVER, 30, up_after=60),
 "alert_rule_test": [
    quiet("LlmSoakRunStoppedEarly", "25m"),
    fire("LlmSoakRunStoppedEarly", "60m", [{"job": "llm-soak-a", "llmsoak_shard": "0/1"}]),
]})

# Shards: one of four (s2) dies at 30 m with the run planned to go on; a four-shard soak that
# finishes as planned at 30 m is quiet.
tests.append({"interval": "1m", "input_series":
    sum([run("llm-soak-s", f"{i}/4", f"s{i}:9464", NEVER, 30 if i == 2 else 90) for i in range(4)], [])
    + sum([run("llm-soak-f", f"{i}/4", f"f{i}:9464", 1800, 30) for i in range(4)], []),
 "alert_rule_test": [
    quiet("LlmSoakShardMissing", "25m"),
    fire("LlmSoakShardMissing", "60m", [{"job": "llm-soak-s"}]),
]})

# Client saturated: a pinned at its limit from 10 m; b well below; c a closed loop (limit 0).
tests.append({"interval": "1m", "input_series": [
    {"series": f'llmsoak_requests_in_flight{{{J}}}', "values": "10x10 64x20"},
    {"series": f'llmsoak_concurrency_limit{{{J}}}', "values": "64x30"},
    {"series": f'llmsoak_requests_in_flight{{{JB}}}', "values": "10x30"},
    {"series": f'llmsoak_concurrency_limit{{{JB}}}', "values": "64x30"},
    {"series": f'llmsoak_requests_in_flight{{{JC}}}', "values": "64x30"},
    {"series": f'llmsoak_concurrency_limit{{{JC}}}', "values": "0x30"},
], "alert_rule_test": [
    quiet("LlmSoakClientSaturated", "9m"),
    fire("LlmSoakClientSaturated", "25m", [{"job": "llm-soak", "instance": "a:9464"}]),
]})

# Client saturated by drops (budget drops do not count).
tests.append({"interval": "1m", "input_series": [
    {"series": f'llmsoak_schedule_dropped_total{{{J},reason="max_in_flight"}}', "values": "0x10 0+5x20"},
    {"series": f'llmsoak_schedule_dropped_total{{{JB},reason="budget"}}', "values": "0+5x30"},
], "alert_rule_test": [
    fire("LlmSoakClientSaturated", "25m", [{"job": "llm-soak", "instance": "a:9464"}]),
]})

# Reload failed on a; b reloads fine.
tests.append({"interval": "1m", "input_series": [
    {"series": f'llmsoak_config_last_reload_successful{{{J}}}', "values": "1x10 0x20"},
    {"series": f'llmsoak_config_last_reload_successful{{{JB}}}', "values": "1x30"},
], "alert_rule_test": [
    quiet("LlmSoakConfigReloadFailed", "12m"),
    fire("LlmSoakConfigReloadFailed", "20m", [{"job": "llm-soak", "instance": "a:9464"}]),
]})

# OTLP exports fail on a from 10 m; b exported fine.
tests.append({"interval": "1m", "input_series": [
    {"series": f'llmsoak_otlp_export_failures_total{{{J}}}', "values": "0x10 0+1x30"},
    {"series": f'llmsoak_otlp_export_failures_total{{{JB}}}', "values": "0x40"},
], "alert_rule_test": [
    quiet("LlmSoakOtlpExportFailing", "15m"),
    fire("LlmSoakOtlpExportFailing", "35m", [{"job": "llm-soak", "instance": "a:9464"}]),
]})

# Probes: a's target process vanishes (not found) at 10 m; b has no GPU at all (quiet: nothing to
# see); c's GPU worked and is gone from 10 m.
tests.append({"interval": "1m", "input_series": [
    {"series": f'llmsoak_probe_status{{{J},probe="target"}}', "values": "0x10 3x30"},
    {"series": f'llmsoak_probe_success{{{J},probe="target"}}', "values": "1x10 0x30"},
    {"series": f'llmsoak_probe_status{{{JB},probe="gpu"}}', "values": "1x40"},
    {"series": f'llmsoak_probe_success{{{JB},probe="gpu"}}', "values": "0x40"},
    {"series": f'llmsoak_probe_status{{{JC},probe="gpu"}}', "values": "0x10 2x30"},
    {"series": f'llmsoak_probe_success{{{JC},probe="gpu"}}', "values": "1x10 0x30"},
], "alert_rule_test": [
    quiet("LlmSoakProbeBlind", "20m"),
    fire("LlmSoakProbeBlind", "35m", [{"job": "llm-soak", "instance": "a:9464", "probe": "target"},
                                      {"job": "llm-soak", "instance": "c:9464", "probe": "gpu"}]),
]})

# Canary: a stops probing at 20 m; b keeps probing but fails from 20 m (failing, not stalled);
# c has just started with a 15 min interval (no probe yet: the start guard).
tests.append({"interval": "1m", "input_series": [
    {"series": f'llmsoak_canary_probes_total{{{J},outcome="success"}}', "values": "0+1x20 20x40"},
    {"series": f'llmsoak_canary_probes_total{{{J},outcome="failure"}}', "values": "0x60"},
    {"series": f'llmsoak_canary_last_success_timestamp_seconds{{{J}}}', "values": "0+60x20 1200x40"},
    {"series": f'llmsoak_canary_probes_total{{{JB},outcome="success"}}', "values": "0+1x20 20x40"},
    {"series": f'llmsoak_canary_probes_total{{{JB},outcome="failure"}}', "values": "0x20 0+1x40"},
    {"series": f'llmsoak_canary_last_success_timestamp_seconds{{{JB}}}', "values": "0+60x20 1200x40"},
    {"series": f'llmsoak_canary_probes_total{{{JC},outcome="success"}}', "values": "0x12"},
    {"series": f'llmsoak_canary_last_success_timestamp_seconds{{{JC}}}', "values": "0x12"},
] + [{"series": f'llmsoak_run_start_time_seconds{{{j}}}', "values": "0x60"} for j in (J, JB)]
  + [{"series": f'llmsoak_run_start_time_seconds{{{JC}}}', "values": "0x12"}],
 "alert_rule_test": [
    quiet("LlmSoakCanaryFailing", "25m"),
    quiet("LlmSoakCanaryStalled", "12m"),
    quiet("LlmSoakCanaryStalled", "25m"),
    fire("LlmSoakCanaryStalled", "40m", [{"job": "llm-soak", "instance": "a:9464"}]),
    fire("LlmSoakCanaryFailing", "40m", [{"job": "llm-soak", "instance": "a:9464"}, {"job": "llm-soak", "instance": "b:9464"}], "20m 0s"),
]})

# TPOT and TTFT drift vs baseline: 20 ms / 100 ms for 2 h, then 25 ms / 130 ms on a; b (another
# target, an A/B soak) sits at its own, higher baseline; the canary drifts but is judged elsewhere.
def drift_series(j, r, tpot_before, tpot_after, ttft_before, ttft_after, base_tpot, base_ttft):
    out = []
    for metric, before, after, base in [("time_per_output_token", tpot_before, tpot_after, base_tpot),
                                        ("time_to_first_token", ttft_before, ttft_after, base_ttft)]:
        out += [
            {"series": f'llmsoak_request_{metric}_seconds_sum{{{j},{r}}}', "values": f"0+{60*before:g}x120 {121*60*before:g}+{60*after:g}x120"},
            {"series": f'llmsoak_request_{metric}_seconds_count{{{j},{r}}}', "values": "0+60x241"},
            {"series": f'llmsoak_baseline_{metric}_seconds{{{j},{r},stat="mean"}}', "values": f"{base}x241"},
        ]
    return out


tests.append({"interval": "1m", "input_series":
    drift_series(J, R, 0.02, 0.025, 0.1, 0.13, 0.02, 0.1)
    + drift_series(J, RB, 0.03125, 0.03125, 0.25, 0.25, 0.03125, 0.25)
    + drift_series(J, RC, 0.02, 0.03, 0.1, 0.2, 0.02, 0.1),
 "alert_rule_test": [
    quiet("LlmSoakTpotDriftFromBaseline", "100m"),
    quiet("LlmSoakTtftDriftFromBaseline", "100m"),
    fire("LlmSoakTpotDriftFromBaseline", "190m", [{"job": "llm-soak", "llmsoak_target": "vllm", "llmsoak_scenario": "steady", "gen_ai_request_model": "m1"}], "125%"),
    fire("LlmSoakTtftDriftFromBaseline", "190m", [{"job": "llm-soak", "llmsoak_target": "vllm", "llmsoak_scenario": "steady", "gen_ai_request_model": "m1"}], "130%"),
], "promql_expr_test": [
    {"expr": 'llmsoak:tpot_seconds:mean30m{llmsoak_target="vllm-b"}', "eval_time": "190m", "exp_samples": [
        {"labels": 'llmsoak:tpot_seconds:mean30m{job="llm-soak",llmsoak_target="vllm-b",llmsoak_scenario="steady",gen_ai_request_model="m1"}', "value": 0.03125},
    ]},
]})

# TPOT day over day: 20 ms for 25 h, then 25 ms.
tests.append({"interval": "10m", "input_series": [
    {"series": f'llmsoak_request_time_per_output_token_seconds_sum{{{J},{R}}}', "values": "0+12x150 1815+15x30"},
    {"series": f'llmsoak_request_time_per_output_token_seconds_count{{{J},{R}}}', "values": "0+600x181"},
], "alert_rule_test": [
    quiet("LlmSoakTpotDriftDayOverDay", "1d"),
    quiet("LlmSoakTpotDriftDayOverDay", "25h30m"),
    fire("LlmSoakTpotDriftDayOverDay", "28h", [{"job": "llm-soak", "llmsoak_target": "vllm", "llmsoak_scenario": "steady", "gen_ai_request_model": "m1"}]),
]})

SLO = {"job": "llm-soak", "llmsoak_target": "vllm", "llmsoak_scenario": "steady"}

# TTFT SLO fast burn: 10 req/s; from 60 m, 20 % slower than 1 s. The canary's slow probes and a
# trickle of a request every 2 minutes, half of them slow (under the minimum traffic), stay quiet.
RT = R.replace('llmsoak_scenario="steady"', 'llmsoak_scenario="trickle"')
tests.append({"interval": "1m", "input_series": [
    {"series": f'llmsoak_request_time_to_first_token_seconds_bucket{{{J},{R},le="1"}}', "values": "0+600x60 36480+480x60"},
    {"series": f'llmsoak_requests_total{{{J},{R},outcome="success"}}', "values": "0+600x121"},
    {"series": f'llmsoak_request_time_to_first_token_seconds_bucket{{{J},{RC},le="1"}}', "values": "0x121"},
    {"series": f'llmsoak_requests_total{{{J},{RC},outcome="success"}}', "values": "0+1x121"},
    {"series": f'llmsoak_request_time_to_first_token_seconds_bucket{{{J},{RT},le="1"}}', "values": "0+0.25x121"},
    {"series": f'llmsoak_requests_total{{{J},{RT},outcome="success"}}', "values": "0+0.5x121"},
], "alert_rule_test": [
    quiet("LlmSoakTtftSloFastBurn", "70m"),
    quiet("LlmSoakTtftSloSlowBurn", "50m"),
    fire("LlmSoakTtftSloFastBurn", "110m", [SLO]),
]})

# Failures are bad events in the TTFT SLI too (Prometheus 3 style le="1.0" bound).
tests.append({"interval": "1m", "input_series": [
    {"series": f'llmsoak_request_time_to_first_token_seconds_bucket{{{J},{R},le="1.0"}}', "values": "0+600x60 36480+480x60"},
    {"series": f'llmsoak_requests_total{{{J},{R},outcome="success"}}', "values": "0+600x60 36480+480x60"},
    {"series": f'llmsoak_requests_total{{{J},{R},outcome="error",error_type="http_5xx"}}', "values": "0x60 0+120x60"},
], "alert_rule_test": [
    fire("LlmSoakTtftSloFastBurn", "110m", [SLO]),
]})

# TTFT slow burn: 5 % slow all along (above 3x the 1 % budget, below the fast 14.4x and 6x).
# Beside it, quiet: the canary, half its probes slow (its own alerts judge it), and a trickle of
# a request every 20 minutes, half of them slow (under the minimum traffic of every window).
tests.append({"interval": "10m", "input_series": [
    {"series": f'llmsoak_request_time_to_first_token_seconds_bucket{{{J},{R},le="1"}}', "values": "0+5700x60"},
    {"series": f'llmsoak_requests_total{{{J},{R},outcome="success"}}', "values": "0+6000x60"},
    {"series": f'llmsoak_request_time_to_first_token_seconds_bucket{{{J},{RC},le="1"}}', "values": "0+5x60"},
    {"series": f'llmsoak_requests_total{{{J},{RC},outcome="success"}}', "values": "0+10x60"},
    {"series": f'llmsoak_request_time_to_first_token_seconds_bucket{{{J},{RT},le="1"}}', "values": "0+0.25x60"},
    {"series": f'llmsoak_requests_total{{{J},{RT},outcome="success"}}', "values": "0+0.5x60"},
], "alert_rule_test": [
    quiet("LlmSoakTtftSloFastBurn", "5h"),
    fire("LlmSoakTtftSloSlowBurn", "5h", [SLO]),
]})

# Error budget fast burn: 5 % errors from 30 m; cancellations (b) never count; the canary's
# failed probes (its own alerts judge it) are not the soak's SLO.
tests.append({"interval": "1m", "input_series": [
    {"series": f'llmsoak_requests_total{{{J},{R},outcome="success"}}', "values": "0+60x30 1857+57x60"},
    {"series": f'llmsoak_requests_total{{{J},{R},outcome="timeout",error_type="timeout"}}', "values": "0x30 3+3x60"},
    {"series": f'llmsoak_requests_total{{{JB},{RB},outcome="success"}}', "values": "0+60x30 1857+57x60"},
    {"series": f'llmsoak_requests_total{{{JB},{RB},outcome="cancelled",error_type="cancelled"}}', "values": "0x30 3+3x60"},
    # An abort storm on b (half its requests closed on purpose) is no failure either.
    {"series": f'llmsoak_requests_total{{{JB},{RB},outcome="aborted",error_type="aborted"}}', "values": "0x30 30+30x60"},
    {"series": f'llmsoak_requests_total{{{J},{RC},outcome="success"}}', "values": "0+1x90"},
    {"series": f'llmsoak_requests_total{{{J},{RC},outcome="error",error_type="http_5xx"}}', "values": "0x30 0+1x60"},
], "alert_rule_test": [
    quiet("LlmSoakErrorBudgetFastBurn", "25m"),
    quiet("LlmSoakErrorBudgetSlowBurn", "25m"),
    fire("LlmSoakErrorBudgetFastBurn", "60m", [SLO]),
]})

# Error budget slow burn: 0.5 % errors all along (above 3x the 0.1 % budget, below 6x). Quiet
# beside it: the canary failing a probe in ten, and the trickle failing half its requests.
tests.append({"interval": "10m", "input_series": [
    {"series": f'llmsoak_requests_total{{{J},{R},outcome="success"}}', "values": "0+5970x60"},
    {"series": f'llmsoak_requests_total{{{J},{R},outcome="error",error_type="http_5xx"}}', "values": "0+30x60"},
    {"series": f'llmsoak_requests_total{{{J},{RC},outcome="success"}}', "values": "0+9x60"},
    {"series": f'llmsoak_requests_total{{{J},{RC},outcome="error",error_type="http_5xx"}}', "values": "0+1x60"},
    {"series": f'llmsoak_requests_total{{{J},{RT},outcome="success"}}', "values": "0+0.25x60"},
    {"series": f'llmsoak_requests_total{{{J},{RT},outcome="error",error_type="http_5xx"}}', "values": "0+0.25x60"},
], "alert_rule_test": [
    quiet("LlmSoakErrorBudgetFastBurn", "5h"),
    fire("LlmSoakErrorBudgetSlowBurn", "5h", [SLO]),
]})

# Target restarted at 30 m.
tests.append({"interval": "1m", "input_series": [
    {"series": f'llmsoak_target_process_restarts_total{{{J},llmsoak_target="vllm"}}', "values": "0x30 1x30"},
    {"series": f'llmsoak_target_process_restarts_total{{{J},llmsoak_target="tgi"}}', "values": "0x60"},
], "alert_rule_test": [
    quiet("LlmTargetRestarted", "25m"),
    fire("LlmTargetRestarted", "35m", [{"job": "llm-soak", "instance": "a:9464", "llmsoak_target": "vllm"}]),
    quiet("LlmTargetRestarted", "50m"),
]})

# Target process memory: vllm's RSS +10 MiB/min from 2 GiB; tgi's flat; sglang restarts at 60 m
# and loads back from zero to 2 GiB in 20 min (the restart guard).
tests.append({"interval": "1m", "input_series": [
    {"series": f'llmsoak_target_process_memory_usage_bytes{{{J},llmsoak_target="vllm"}}', "values": f"{2048*MIB}+{10*MIB}x240"},
    {"series": f'llmsoak_target_process_memory_usage_bytes{{{J},llmsoak_target="tgi"}}', "values": f"{2048*MIB}x240"},
    {"series": f'llmsoak_target_process_memory_usage_bytes{{{J},llmsoak_target="sglang"}}', "values": f"{2048*MIB}x60 0+{round(102.4*MIB)}x20 {2048*MIB}x160"},
    {"series": f'llmsoak_target_process_restarts_total{{{J},llmsoak_target="sglang"}}', "values": "0x60 1x180"},
], "alert_rule_test": [
    quiet("LlmTargetProcessMemoryLeak", "50m"),
    fire("LlmTargetProcessMemoryLeak", "3h", [{"job": "llm-soak", "instance": "a:9464", "llmsoak_target": "vllm"}]),
]})

# Target fds: vllm leaks a socket per churned connection (+2 fds/min from 400); tgi holds a steady
# pool of 400; sglang restarts at 60 m and opens its 400 back in 20 min (the restart guard). On
# b, a run's own pool fills a quiet server's fds at its start (9 -> 20 in 5 min, then up to 30
# over the next 90 min as the load finds its level) and stays: the run's warm-up guard (the 2h
# fit window must start after the run did) keeps it quiet; without it, it fires within the first
# 2 h — as it did in the real-time soak of 2026-12-07.
tests.append({"interval": "1m", "input_series": [
    {"series": f'llmsoak_target_process_open_fds{{{J},llmsoak_target="vllm"}}', "values": "400+2x240"},
    {"series": f'llmsoak_target_process_open_fds{{{J},llmsoak_target="tgi"}}', "values": "400x240"},
    {"series": f'llmsoak_target_process_open_fds{{{J},llmsoak_target="sglang"}}', "values": "400x60 0+20x20 400x160"},
    {"series": f'llmsoak_target_process_restarts_total{{{J},llmsoak_target="sglang"}}', "values": "0x60 1x180"},
    {"series": f'llmsoak_target_process_open_fds{{{JB},llmsoak_target="sim"}}', "values": "9 11 13 16 18 " + vals(lambda m: min(20 + m / 9, 30), 235)},
    # An unrelated job with the same series leaking: not llm-soak's, never judged.
    {"series": 'llmsoak_target_process_open_fds{job="node",instance="n:9100",llmsoak_target="vllm"}', "values": "400+2x240"},
    {"series": 'llmsoak_run_start_time_seconds{job="node",instance="n:9100"}', "values": "0x240"},
] + [{"series": f'llmsoak_run_start_time_seconds{{{j}}}', "values": "0x240"} for j in (J, JB)],
 "alert_rule_test": [
    quiet("LlmTargetFileDescriptorLeak", "50m"),
    quiet("LlmTargetFileDescriptorLeak", "90m"),
    quiet("LlmTargetFileDescriptorLeak", "150m"),
    fire("LlmTargetFileDescriptorLeak", "3h5m", [{"job": "llm-soak", "instance": "a:9464", "llmsoak_target": "vllm"}]),
]})

# GPU memory: GPU-0 creeps (NVML); GPU-1 loads a model at 30 m (10 -> 72 GiB) and stays; DCGM
# of the system under test creeps, DCGM of another job creeps too (never ours to page on).
G0 = f'{J},hw_id="GPU-0",hw_name="NVIDIA H100 80GB HBM3"'
G1 = f'{J},hw_id="GPU-1",hw_name="NVIDIA H100 80GB HBM3"'
tests.append({"interval": "1m", "input_series": [
    {"series": f'hw_gpu_memory_usage_bytes{{{G0}}}', "values": f"{10240*MIB}+{300*MIB}x150"},
    {"series": f'hw_gpu_memory_limit_bytes{{{G0}}}', "values": f"{81559*MIB}x150"},
    {"series": f'hw_gpu_memory_usage_bytes{{{G1}}}', "values": f"{10240*MIB}x30 {73400*MIB}x120"},
    {"series": f'hw_gpu_memory_limit_bytes{{{G1}}}', "values": f"{81559*MIB}x150"},
    {"series": 'DCGM_FI_DEV_FB_USED{job="dcgm-exporter",instance="n1",gpu="0",UUID="GPU-9"}', "values": "10000+300x150"},
    {"series": 'DCGM_FI_DEV_FB_FREE{job="dcgm-exporter",instance="n1",gpu="0",UUID="GPU-9"}', "values": "71920-300x150"},
    {"series": 'DCGM_FI_DEV_FB_USED{job="dcgm-other",instance="n2",gpu="0",UUID="GPU-7"}', "values": "10000+300x150"},
    {"series": 'DCGM_FI_DEV_FB_FREE{job="dcgm-other",instance="n2",gpu="0",UUID="GPU-7"}', "values": "71920-300x150"},
], "alert_rule_test": [
    quiet("LlmTargetGpuMemoryCreep", "20m"),
    fire("LlmTargetGpuMemoryCreep", "2h", [
        {"job": "llm-soak", "instance": "a:9464", "hw_id": "GPU-0", "hw_name": "NVIDIA H100 80GB HBM3"},
        {"job": "dcgm-exporter", "instance": "n1", "gpu": "0", "UUID": "GPU-9"},
    ]),
]})

# GPU throttling: GPU-0 busy, its SM clock drops to 1.4 GHz at 60 m; GPU-1 idles at a low clock.
tests.append({"interval": "1m", "input_series": [
    {"series": f'hw_gpu_clock_sm_hertz{{{G0}}}', "values": "1980000000x60 1400000000x60"},
    {"series": f'hw_gpu_utilization_ratio{{{G0}}}', "values": "0.9x120"},
    {"series": f'hw_gpu_clock_sm_hertz{{{G1}}}', "values": "1980000000x60 345000000x60"},
    {"series": f'hw_gpu_utilization_ratio{{{G1}}}', "values": "0.9x60 0x60"},
], "alert_rule_test": [
    quiet("LlmTargetGpuThrottling", "65m"),
    fire("LlmTargetGpuThrottling", "90m", [{"job": "llm-soak", "instance": "a:9464", "hw_id": "GPU-0", "hw_name": "NVIDIA H100 80GB HBM3"}]),
]})

# vLLM: the queue grows and it preempts on the system under test (s1) and on another vLLM job in
# the same Prometheus (never ours to page on).
V1 = 'job="vllm",instance="s1:8000",model_name="m1"'
VO = 'job="vllm-other",instance="o1:8000",model_name="m1"'
tests.append({"interval": "1m", "input_series": [
    {"series": f'vllm:num_requests_waiting{{{V1}}}', "values": "0+1x120"},
    {"series": f'vllm:num_requests_waiting{{{VO}}}', "values": "0+1x120"},
    {"series": f'vllm:num_preemptions_total{{{V1}}}', "values": "0x10 0+5x110"},
    {"series": f'vllm:num_preemptions_total{{{VO}}}', "values": "0x10 0+5x110"},
], "alert_rule_test": [
    quiet("LlmTargetQueueGrowing", "20m"),
    fire("LlmTargetQueueGrowing", "90m", [{"job": "vllm", "instance": "s1:8000", "model_name": "m1"}]),
    quiet("LlmTargetPreempting", "20m"),
    fire("LlmTargetPreempting", "40m", [{"job": "vllm", "instance": "s1:8000", "model_name": "m1"}]),
]})

# KV cache floor: s1 leaks (each half hour's least usage climbs 0.06 — aborted requests' blocks
# never freed) under a load that swings usage by 0.3 every other minute. Quiet beside it: the same
# curve on another vLLM job; s2 at a steady swing; s3 with a load step at 60 m (the floor moves
# once) and s4 restarting at 60 m (usage to 0, refilled in 5 min, then flat).
K = "vllm:kv_cache_usage_perc"
def kv(inst, job="vllm"):
    return f'{K}{{job="{job}",instance="{inst}",model_name="m1"}}'
def swing(floor):
    return " ".join(f"{floor(m) + (0.3 if m % 2 else 0):.4f}" for m in range(241))
tests.append({"interval": "1m", "input_series": [
    {"series": kv("s1:8000"), "values": swing(lambda m: 0.05 + 0.002 * m)},
    {"series": kv("o1:8000", "vllm-other"), "values": swing(lambda m: 0.05 + 0.002 * m)},
    {"series": kv("s2:8000"), "values": swing(lambda m: 0.2)},
    {"series": kv("s3:8000"), "values": swing(lambda m: 0.1 if m < 60 else 0.4)},
    {"series": kv("s4:8000"), "values": swing(lambda m: 0.2 if m < 60 else (0.0 if m < 62 else min(0.2, 0.04 * (m - 60))))},
], "alert_rule_test": [
    quiet("LlmTargetKvCacheLeak", "80m"),
    fire("LlmTargetKvCacheLeak", "150m", [{"job": "vllm", "instance": "s1:8000", "model_name": "m1"}], "29%"),
    fire("LlmTargetKvCacheLeak", "4h", [{"job": "vllm", "instance": "s1:8000", "model_name": "m1"}], "47%"),
]})

GROUPS = [g["name"] for g in yaml.safe_load((root / "alerts/llm-soak.rules.yml").read_text())["groups"]]
GROUPS += [g["name"] for g in yaml.safe_load((root / "alerts/llm-soak.alerts.yml").read_text())["groups"]]
doc = {"rule_files": ["../llm-soak.rules.yml", "../llm-soak.alerts.yml"],
       "evaluation_interval": "1m",
       "group_eval_order": GROUPS,
       "tests": tests}
out = root / "alerts/tests/llm-soak.test.yml"
header = "# Generated by scripts/gen-rule-tests.py (promtool unit tests: every alert fires with its exact labels\n# and annotations, and stays quiet through the ordinary conditions next to it). Run: promtool test rules <this file>\n"
out.write_text(header + yaml.safe_dump(doc, sort_keys=False, width=200))
print(f"wrote {out}")
