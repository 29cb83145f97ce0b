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

R = 'gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="m1",server_address="10.0.0.7",server_port="8000",llmsoak_target="vllm",llmsoak_scenario="steady"'
J = 'job="soak",instance="a:9464"'
JB = 'job="soak",instance="b:9464"'
MIB = 1048576
tests = []

# Client memory leak: a grows 1 MiB/min (Prometheus process collector), c grows on the OTLP
# name only, b is flat.
tests.append({"interval": "1m", "input_series": [
    {"series": f'process_resident_memory_bytes{{{J}}}', "values": f"{100*MIB}+{MIB}x180"},
    {"series": f'process_resident_memory_bytes{{{JB}}}', "values": f"{100*MIB}x180"},
    {"series": 'process_memory_usage_bytes{job="otel",instance="c"}', "values": f"{100*MIB}+{MIB}x180"},
    {"series": f'llmsoak_run_start_time_seconds{{{J}}}', "values": "0x180"},
    {"series": f'llmsoak_run_start_time_seconds{{{JB}}}', "values": "0x180"},
    {"series": 'llmsoak_run_start_time_seconds{job="otel",instance="c"}', "values": "0x180"},
], "alert_rule_test": [
    quiet("LlmSoakClientMemoryLeak", "40m"),
    fire("LlmSoakClientMemoryLeak", "2h", [{"job": "soak", "instance": "a:9464"}, {"job": "otel", "instance": "c"}]),
]})

# File descriptor leak: +10 fds/min towards a limit of 1024; b flat.
tests.append({"interval": "1m", "input_series": [
    {"series": f'process_open_fds{{{J}}}', "values": "100+10x120"},
    {"series": f'process_max_fds{{{J}}}', "values": "1024x120"},
    {"series": f'process_open_fds{{{JB}}}', "values": "100x120"},
    {"series": f'process_max_fds{{{JB}}}', "values": "1024x120"},
    {"series": f'llmsoak_run_info{{{J},llmsoak_run_id="r1",llmsoak_shard="0/1"}}', "values": "1x120"},
    {"series": f'llmsoak_run_info{{{JB},llmsoak_run_id="r2",llmsoak_shard="0/1"}}', "values": "1x120"},
], "alert_rule_test": [
    quiet("LlmSoakFileDescriptorLeak", "20m"),
    fire("LlmSoakFileDescriptorLeak", "90m", [{"job": "soak", "instance": "a:9464"}]),
]})

# Daemon down: a stops answering at 10 m; some other job's target "x" is down but is no llm-soak.
tests.append({"interval": "1m", "input_series": [
    {"series": f'up{{{J}}}', "values": "1x10 0x30"},
    {"series": f'llmsoak_run_info{{{J},llmsoak_run_id="r1",llmsoak_shard="0/1"}}', "values": "1x10"},
    {"series": 'up{job="node",instance="x"}', "values": "0x40"},
], "alert_rule_test": [
    quiet("LlmSoakDaemonDown", "13m"),
    fire("LlmSoakDaemonDown", "25m", [{"job": "soak", "instance": "a:9464"}]),
]})

# Daemon absent: the last llm-soak disappears after 10 m.
tests.append({"interval": "1m", "input_series": [
    {"series": f'llmsoak_run_info{{{J},llmsoak_run_id="r1",llmsoak_shard="0/1"}}', "values": "1x10"},
], "alert_rule_test": [
    quiet("LlmSoakDaemonAbsent", "9m"),
    quiet("LlmSoakDaemonAbsent", "20m"),
    fire("LlmSoakDaemonAbsent", "40m", [{}]),
]})

# Client saturated: a pinned at its limit from 10 m; b well below.
tests.append({"interval": "1m", "input_series": [
    {"series": f'llmsoak_requests_in_flight{{{J}}}', "values": "10x10 64x20"},
    {"series": f'llmsoak_concurrency_limit{{{J}}}', "values": "64x30"},
    {"series": f'llmsoak_requests_in_flight{{{JB}}}', "values": "10x30"},
    {"series": f'llmsoak_concurrency_limit{{{JB}}}', "values": "64x30"},
], "alert_rule_test": [
    quiet("LlmSoakClientSaturated", "9m"),
    fire("LlmSoakClientSaturated", "25m", [{"job": "soak", "instance": "a:9464"}]),
]})

# Client saturated by drops (budget drops do not count).
tests.append({"interval": "1m", "input_series": [
    {"series": f'llmsoak_schedule_dropped_total{{{J},reason="max_in_flight"}}', "values": "0x10 0+5x20"},
    {"series": f'llmsoak_schedule_dropped_total{{{JB},reason="budget"}}', "values": "0+5x30"},
], "alert_rule_test": [
    fire("LlmSoakClientSaturated", "25m", [{"job": "soak", "instance": "a:9464"}]),
]})

# Canary: probes stop at 20 m, so does success.
tests.append({"interval": "1m", "input_series": [
    {"series": f'llmsoak_canary_probes_total{{{J},outcome="success"}}', "values": "0+1x20 20x40"},
    {"series": f'llmsoak_canary_last_success_timestamp_seconds{{{J}}}', "values": "0+60x20 1200x40"},
], "alert_rule_test": [
    quiet("LlmSoakCanaryFailing", "25m"),
    quiet("LlmSoakCanaryStalled", "25m"),
    fire("LlmSoakCanaryFailing", "40m", [{"job": "soak", "instance": "a:9464"}], "20m 0s"),
    fire("LlmSoakCanaryStalled", "40m", [{"job": "soak", "instance": "a:9464", "outcome": "success"}]),
]})

# Canary probing but failing: probes go on (outcome failure), success stops at 20 m.
tests.append({"interval": "1m", "input_series": [
    {"series": f'llmsoak_canary_probes_total{{{J},outcome="success"}}', "values": "0+1x20 20x40"},
    {"series": f'llmsoak_canary_probes_total{{{J},outcome="failure"}}', "values": "0x20 0+1x40"},
    {"series": f'llmsoak_canary_last_success_timestamp_seconds{{{J}}}', "values": "0+60x20 1200x40"},
], "alert_rule_test": [
    fire("LlmSoakCanaryStalled", "50m", [{"job": "soak", "instance": "a:9464", "outcome": "success"}]),
    fire("LlmSoakCanaryFailing", "50m", [{"job": "soak", "instance": "a:9464"}], "30m 0s"),
]})

# TPOT drift vs baseline: 20 ms for 2 h, then 25 ms (a) / 22 ms, below 15 % (b).
tests.append({"interval": "1m", "input_series": [
    {"series": f'llmsoak_request_time_per_output_token_seconds_sum{{{J},{R}}}', "values": "0+1.2x120 145.5+1.5x120"},
    {"series": f'llmsoak_request_time_per_output_token_seconds_count{{{J},{R}}}', "values": "0+60x241"},
    {"series": f'llmsoak_baseline_time_per_output_token_seconds{{{J},{R},stat="mean"}}', "values": "0.02x241"},
    {"series": f'llmsoak_request_time_per_output_token_seconds_sum{{job="soak2",instance="b:9464",{R}}}', "values": "0+1.2x120 145.32+1.32x120"},
    {"series": f'llmsoak_request_time_per_output_token_seconds_count{{job="soak2",instance="b:9464",{R}}}', "values": "0+60x241"},
    {"series": f'llmsoak_baseline_time_per_output_token_seconds{{job="soak2",instance="b:9464",{R},stat="mean"}}', "values": "0.02x241"},
], "alert_rule_test": [
    quiet("LlmSoakTpotDriftFromBaseline", "100m"),
    fire("LlmSoakTpotDriftFromBaseline", "190m", [{"job": "soak", "llmsoak_scenario": "steady", "gen_ai_request_model": "m1"}], "125%"),
], "promql_expr_test": [
    {"expr": 'llmsoak:tpot_seconds:mean30m{job="soak"}', "eval_time": "190m", "exp_samples": [
        {"labels": 'llmsoak:tpot_seconds:mean30m{job="soak",llmsoak_scenario="steady",gen_ai_request_model="m1"}', "value": 0.025},
    ]},
]})

# TPOT day over day: 20 ms for 25 h, then 25 ms.
tests.append({"interval": "10m", "input_series": [
    {"series": f'llmsoak_request_time_per_output_token_seconds_sum{{{J},{R}}}', "values": "0+12x150 1815+15x30"},
    {"series": f'llmsoak_request_time_per_output_token_seconds_count{{{J},{R}}}', "values": "0+600x181"},
], "alert_rule_test": [
    quiet("LlmSoakTpotDriftDayOverDay", "1d"),
    quiet("LlmSoakTpotDriftDayOverDay", "25h30m"),
    fire("LlmSoakTpotDriftDayOverDay", "28h", [{"job": "soak", "llmsoak_scenario": "steady", "gen_ai_request_model": "m1"}]),
]})

# TTFT SLO fast burn: 10 req/s; from 60 m, 20 % of the requests are slower than 1 s.
tests.append({"interval": "1m", "input_series": [
    {"series": f'llmsoak_request_time_to_first_token_seconds_bucket{{{J},{R},le="1"}}', "values": "0+600x60 36480+480x60"},
    {"series": f'llmsoak_request_time_to_first_token_seconds_bucket{{{J},{R},le="+Inf"}}', "values": "0+600x121"},
    {"series": f'llmsoak_requests_total{{{J},{R},outcome="success"}}', "values": "0+600x121"},
], "alert_rule_test": [
    quiet("LlmSoakTtftSloFastBurn", "70m"),
    fire("LlmSoakTtftSloFastBurn", "110m", [{"job": "soak", "llmsoak_scenario": "steady"}]),
]})

# Failures are bad events in the TTFT SLI too: every first token is fast, 20 % fail from 60 m
# (Prometheus 3 style le="1.0" bound).
tests.append({"interval": "1m", "input_series": [
    {"series": f'llmsoak_request_time_to_first_token_seconds_bucket{{{J},{R},le="1.0"}}', "values": "0+600x60 36480+480x60"},
    {"series": f'llmsoak_requests_total{{{J},{R},outcome="success"}}', "values": "0+600x60 36480+480x60"},
    {"series": f'llmsoak_requests_total{{{J},{R},outcome="error",error_type="http_5xx"}}', "values": "0x60 0+120x60"},
], "alert_rule_test": [
    fire("LlmSoakTtftSloFastBurn", "110m", [{"job": "soak", "llmsoak_scenario": "steady"}]),
]})

# Error budget: 5 % errors from 30 m; cancellations (b) never count.
tests.append({"interval": "1m", "input_series": [
    {"series": f'llmsoak_requests_total{{{J},{R},outcome="success"}}', "values": "0+60x30 1857+57x60"},
    {"series": f'llmsoak_requests_total{{{J},{R},outcome="timeout",error_type="timeout"}}', "values": "0x30 3+3x60"},
    {"series": f'llmsoak_requests_total{{job="soak2",instance="b:9464",{R},outcome="success"}}', "values": "0+60x30 1857+57x60"},
    {"series": f'llmsoak_requests_total{{job="soak2",instance="b:9464",{R},outcome="cancelled",error_type="cancelled"}}', "values": "0x30 3+3x60"},
], "alert_rule_test": [
    quiet("LlmSoakErrorBudgetBurn", "25m"),
    fire("LlmSoakErrorBudgetBurn", "60m", [{"job": "soak", "llmsoak_scenario": "steady"}]),
]})

# Target process memory: vllm's RSS +10 MiB/min from 2 GiB; tgi's flat.
tests.append({"interval": "1m", "input_series": [
    {"series": f'llmsoak_target_process_memory_usage_bytes{{{J},llmsoak_target="vllm"}}', "values": f"{2048*MIB}+{10*MIB}x240"},
    {"series": f'llmsoak_target_process_memory_usage_bytes{{{J},llmsoak_target="tgi"}}', "values": f"{2048*MIB}x240"},
], "alert_rule_test": [
    quiet("LlmTargetProcessMemoryLeak", "50m"),
    fire("LlmTargetProcessMemoryLeak", "3h", [{"job": "soak", "instance": "a:9464", "llmsoak_target": "vllm"}]),
]})

# GPU memory creep, seen by llm-soak's NVML gauges (g0 creeps, g1 is flat) and by DCGM.
G0 = f'{J},hw_id="GPU-0",hw_name="NVIDIA H100 80GB HBM3"'
G1 = f'{J},hw_id="GPU-1",hw_name="NVIDIA H100 80GB HBM3"'
tests.append({"interval": "1m", "input_series": [
    {"series": f'hw_gpu_memory_usage_bytes{{{G0}}}', "values": f"{10240*MIB}+{300*MIB}x150"},
    {"series": f'hw_gpu_memory_limit_bytes{{{G0}}}', "values": f"{81559*MIB}x150"},
    {"series": f'hw_gpu_memory_usage_bytes{{{G1}}}', "values": f"{10240*MIB}x150"},
    {"series": f'hw_gpu_memory_limit_bytes{{{G1}}}', "values": f"{81559*MIB}x150"},
    {"series": 'DCGM_FI_DEV_FB_USED{job="dcgm",instance="n1",gpu="0",UUID="GPU-9"}', "values": "10000+300x150"},
    {"series": 'DCGM_FI_DEV_FB_FREE{job="dcgm",instance="n1",gpu="0",UUID="GPU-9"}', "values": "71920-300x150"},
], "alert_rule_test": [
    quiet("LlmTargetGpuMemoryCreep", "20m"),
    fire("LlmTargetGpuMemoryCreep", "2h", [
        {"job": "soak", "instance": "a:9464", "hw_id": "GPU-0", "hw_name": "NVIDIA H100 80GB HBM3"},
        {"job": "dcgm", "instance": "n1", "gpu": "0", "UUID": "GPU-9"},
    ]),
]})

# vLLM: the queue grows on s1, KV cache full with a queue on s1 (full but idle on s2), preemptions.
V1 = 'job="vllm",instance="s1:8000",model_name="m1"'
V2 = 'job="vllm",instance="s2:8000",model_name="m1"'
tests.append({"interval": "1m", "input_series": [
    {"series": f'vllm:num_requests_waiting{{{V1}}}', "values": "0+1x120"},
    {"series": f'vllm:num_requests_waiting{{{V2}}}', "values": "0x120"},
    {"series": f'vllm:kv_cache_usage_perc{{{V1}}}', "values": "0.5x10 0.97x110"},
    {"series": f'vllm:kv_cache_usage_perc{{{V2}}}', "values": "0.97x120"},
    {"series": f'vllm:num_preemptions_total{{{V1}}}', "values": "0x10 0+5x110"},
    {"series": f'vllm:num_preemptions_total{{{V2}}}', "values": "0x120"},
], "alert_rule_test": [
    quiet("LlmTargetQueueGrowing", "20m"),
    fire("LlmTargetQueueGrowing", "90m", [{"job": "vllm", "instance": "s1:8000", "model_name": "m1"}]),
    quiet("LlmTargetKvCacheSaturated", "15m"),
    fire("LlmTargetKvCacheSaturated", "40m", [{"job": "vllm", "instance": "s1:8000", "model_name": "m1"}]),
    quiet("LlmTargetPreempting", "20m"),
    fire("LlmTargetPreempting", "40m", [{"job": "vllm", "instance": "s1:8000", "model_name": "m1"}]),
]})

doc = {"rule_files": ["../llm-soak.rules.yml", "../llm-soak.alerts.yml"],
       "evaluation_interval": "1m",
       "group_eval_order": ["llmsoak-recording", "llmsoak-client", "llmsoak-slo", "llmsoak-target"],
       "tests": tests}
out = root / "alerts/tests/llm-soak.test.yml"
header = "# Generated by scripts/gen-rule-tests.py (promtool unit tests: every alert fires once with its\n# exact labels and annotations, and has cases where it must not). Run: promtool test rules <this file>\n"
out.write_text(header + yaml.safe_dump(doc, sort_keys=False, width=200))
print(f"wrote {out}")
