// promtool unit tests of the rules and alerts (`prometheusRuleTests`): every alert fires with
// its exact labels and annotations, and stays quiet through the ordinary conditions next to it
// (restarts, warm-ups, finished runs, other jobs). They live beside the rules they test: the
// expected annotations are rendered from `prometheusAlerts` itself, so a changed text is tested
// as shipped. scripts/render-mixin.py writes them to alerts/tests/llm-soak.test.yml; CI runs
// `promtool test rules` on the committed file.
{
  local alerts = { [r.alert]: r for g in $.prometheusAlerts.groups for r in g.rules },

  // `{{ $labels.x }}` as the labels of the series (absent: empty); `{{ $value ... }}` as the
  // case's text of it.
  local render(text, labels, value) =
    local byLabel = std.split(text, '{{ $labels.');
    local labelled = byLabel[0] + std.join('', [
      local end = std.findSubstr(' }}', p)[0];
      std.get(labels, p[:end], '') + p[end + 3:]
      for p in byLabel[1:]
    ]);
    local byValue = std.split(labelled, '{{ $value');
    byValue[0] + std.join('', [
      local end = std.findSubstr('}}', p)[0];
      value + p[end + 2:]
      for p in byValue[1:]
    ]),

  local fire(name, at, labelSets, value='') = {
    eval_time: at,
    alertname: name,
    exp_alerts: [{
      exp_labels: { severity: alerts[name].labels.severity } + ls,
      exp_annotations: { [k]: render(alerts[name].annotations[k], ls, value) for k in std.objectFields(alerts[name].annotations) },
    } for ls in labelSets],
  },
  local quiet(name, at) = { eval_time: at, alertname: name },
  local series(s, values) = { series: s, values: values },
  // Explicit values f(0..n), for curves promtool's notation cannot write.
  local vals(f, n) = std.join(' ', ['%.0f' % f(m) for m in std.range(0, n)]),

  local never = 4102444800,  // llmsoak_run_planned_end_timestamp_seconds of a run without an end
  local R = 'gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="m1",server_address="10.0.0.7",server_port="8000",llmsoak_target="vllm",llmsoak_scenario="steady"',
  local RB = std.strReplace(R, 'llmsoak_target="vllm"', 'llmsoak_target="vllm-b"'),
  local RC = std.strReplace(R, 'llmsoak_scenario="steady"', 'llmsoak_scenario="canary"'),
  local RT = std.strReplace(R, 'llmsoak_scenario="steady"', 'llmsoak_scenario="trickle"'),
  local J = 'job="llm-soak",instance="a:9464"',
  local JB = 'job="llm-soak",instance="b:9464"',
  local JC = 'job="llm-soak",instance="c:9464"',
  local JD = 'job="llm-soak",instance="d:9464"',
  local MIB = 1048576,
  local inst(i) = { job: 'llm-soak', instance: i + ':9464' },
  local started(jobs, n) = [series('llmsoak_run_start_time_seconds{%s}' % j, '0x%d' % n) for j in jobs],

  // A run's info series: job, shard "i/n", instance, planned end, minutes it reports, then (when
  // given) minutes its scrapes fail.
  local run(job, shard, i, end, minutes, upAfter=null) =
    local lab = 'job="%s",instance="%s"' % [job, i];
    [
      series('llmsoak_run_info{%s,llmsoak_run_id="r-%s",llmsoak_shard="%s",llmsoak_tls_unverified="none"}' % [lab, i, shard], '1x%d' % minutes),
      series('llmsoak_run_planned_end_timestamp_seconds{%s}' % lab, '%dx%d' % [end, minutes]),
      series('llmsoak_run_shards{%s}' % lab, '%sx%d' % [std.split(shard, '/')[1], minutes]),
    ] + (if upAfter == null then [] else [series('up{%s}' % lab, '1x%d 0x%d' % [minutes, upAfter])]),

  // TPOT and TTFT means that step from `before` to `after` at 2 h, with their baselines.
  local drift(j, r, tpot, ttft, base) = std.flattenArrays([[
    series('llmsoak_request_%s_seconds_sum{%s,%s}' % [m.metric, j, r], '0+%gx120 %g+%gx120' % [60 * m.before, 121 * 60 * m.before, 60 * m.after]),
    series('llmsoak_request_%s_seconds_count{%s,%s}' % [m.metric, j, r], '0+60x241'),
    series('llmsoak_baseline_%s_seconds{%s,%s,stat="mean"}' % [m.metric, j, r], '%gx241' % m.base),
  ] for m in [
    { metric: 'time_per_output_token', before: tpot[0], after: tpot[1], base: base[0] },
    { metric: 'time_to_first_token', before: ttft[0], after: ttft[1], base: base[1] },
  ]]),
  local slo = { job: 'llm-soak', llmsoak_target: 'vllm', llmsoak_scenario: 'steady' },
  local model = slo { gen_ai_request_model: 'm1' },
  local G0 = J + ',hw_id="GPU-0",hw_name="NVIDIA H100 80GB HBM3"',
  local G1 = J + ',hw_id="GPU-1",hw_name="NVIDIA H100 80GB HBM3"',
  local gpu0 = inst('a') { hw_id: 'GPU-0', hw_name: 'NVIDIA H100 80GB HBM3' },
  local V1 = 'job="vllm",instance="s1:8000",model_name="m1"',
  local VO = 'job="vllm-other",instance="o1:8000",model_name="m1"',
  local vllm1 = { job: 'vllm', instance: 's1:8000', model_name: 'm1' },
  local kv(i, job='vllm') = 'vllm:kv_cache_usage_perc{job="%s",instance="%s",model_name="m1"}' % [job, i],
  // KV usage over a floor that swings by 0.3 every other minute.
  local swing(floor) = std.join(' ', ['%.4f' % (floor(m) + (if m % 2 == 1 then 0.3 else 0)) for m in std.range(0, 240)]),

  prometheusRuleTests: {
    rule_files: ['../llm-soak.rules.yml', '../llm-soak.alerts.yml'],
    evaluation_interval: '1m',
    group_eval_order: [g.name for g in $.prometheusRules.groups + $.prometheusAlerts.groups],
    tests: [
      // Client memory leak: a leaks 1 MiB/min; b grows like a warm-up (fast, then slower); c
      // steps up 50 MiB each hour (load phases, pools filling) and is flat between; d leaks on the
      // OTLP name. Nothing may fire in the first 2 h (the warm-up guard).
      {
        interval: '1m',
        input_series: [
          series('process_resident_memory_bytes{%s}' % J, '%d+%dx240' % [100 * MIB, MIB]),
          series('process_resident_memory_bytes{%s}' % JB, vals(function(m) (100 + 30 * std.log(1 + m / 5)) * MIB, 240)),
          series('process_resident_memory_bytes{%s}' % JC, vals(function(m) (100 + 50 * std.floor(m / 60)) * MIB, 240)),
          series('process_memory_usage_bytes{%s}' % JD, '%d+%dx240' % [100 * MIB, MIB]),
        ] + started([J, JB, JC, JD], 240),
        alert_rule_test: [
          quiet('LlmSoakClientMemoryLeak', '100m'),
          quiet('LlmSoakClientMemoryLeak', '150m'),
          fire('LlmSoakClientMemoryLeak', '230m', [inst('a'), inst('d')]),
        ],
      },
      // File descriptors: a +10 fds/min towards 1024; b flat; c leaks on the OTLP names; d opens
      // 800 connections in its first 30 min (a warm-up) and stays there.
      {
        interval: '1m',
        input_series: [
          series('process_open_fds{%s}' % J, '100+10x120'),
          series('process_max_fds{%s}' % J, '1024x120'),
          series('process_open_fds{%s}' % JB, '100x120'),
          series('process_max_fds{%s}' % JB, '1024x120'),
          series('llmsoak_process_open_fds{%s}' % JC, '100+10x120'),
          series('llmsoak_process_max_fds{%s}' % JC, '1024x120'),
          series('process_open_fds{%s}' % JD, '0+27x30 810x90'),
          series('process_max_fds{%s}' % JD, '1024x120'),
        ] + started([J, JB, JC, JD], 120),
        alert_rule_test: [
          quiet('LlmSoakFileDescriptorLeak', '50m'),
          fire('LlmSoakFileDescriptorLeak', '100m', [inst('a'), inst('c')]),
        ],
      },
      // Daemon down: a stops answering at 10 m and stays down for 3 h (it must still be firing);
      // a target of another job is down but is no llm-soak.
      {
        interval: '1m',
        input_series: [
          series('up{%s}' % J, '1x10 0x200'),
          series('up{job="node",instance="x"}', '0x210'),
        ],
        alert_rule_test: [
          quiet('LlmSoakDaemonDown', '13m'),
          fire('LlmSoakDaemonDown', '25m', [inst('a')]),
          fire('LlmSoakDaemonDown', '3h', [inst('a')]),
        ],
      },
      // Runs: llm-soak-a (no end) dies at 30 m, its pod gone; llm-soak-b finishes as planned at
      // 30 m; llm-soak-c (no end) fails its scrapes from 30 m (DaemonDown's case, not this one).
      {
        interval: '1m',
        input_series: run('llm-soak-a', '0/1', 'a:9464', never, 30)
                      + run('llm-soak-b', '0/1', 'b:9464', 1800, 30)
                      + run('llm-soak-c', '0/1', 'c:9464', never, 30, upAfter=60),
        alert_rule_test: [
          quiet('LlmSoakRunStoppedEarly', '25m'),
          fire('LlmSoakRunStoppedEarly', '60m', [{ job: 'llm-soak-a', llmsoak_shard: '0/1' }]),
        ],
      },
      // Shards: one of four (s2) dies at 30 m with the run planned to go on; a four-shard soak
      // that finishes as planned at 30 m is quiet.
      {
        interval: '1m',
        input_series: std.flattenArrays(
          [run('llm-soak-s', '%d/4' % i, 's%d:9464' % i, never, if i == 2 then 30 else 90) for i in std.range(0, 3)]
          + [run('llm-soak-f', '%d/4' % i, 'f%d:9464' % i, 1800, 30) for i in std.range(0, 3)]
        ),
        alert_rule_test: [
          quiet('LlmSoakShardMissing', '25m'),
          fire('LlmSoakShardMissing', '60m', [{ job: 'llm-soak-s' }]),
        ],
      },
      // Client saturated: a pinned at its limit from 10 m; b well below; c a closed loop (limit 0).
      {
        interval: '1m',
        input_series: [
          series('llmsoak_requests_in_flight{%s}' % J, '10x10 64x20'),
          series('llmsoak_concurrency_limit{%s}' % J, '64x30'),
          series('llmsoak_requests_in_flight{%s}' % JB, '10x30'),
          series('llmsoak_concurrency_limit{%s}' % JB, '64x30'),
          series('llmsoak_requests_in_flight{%s}' % JC, '64x30'),
          series('llmsoak_concurrency_limit{%s}' % JC, '0x30'),
        ],
        alert_rule_test: [
          quiet('LlmSoakClientSaturated', '9m'),
          fire('LlmSoakClientSaturated', '25m', [inst('a')]),
        ],
      },
      // Client saturated by drops (budget drops do not count).
      {
        interval: '1m',
        input_series: [
          series('llmsoak_schedule_dropped_total{%s,reason="max_in_flight"}' % J, '0x10 0+5x20'),
          series('llmsoak_schedule_dropped_total{%s,reason="budget"}' % JB, '0+5x30'),
        ],
        alert_rule_test: [fire('LlmSoakClientSaturated', '25m', [inst('a')])],
      },
      // Reload failed on a; b reloads fine.
      {
        interval: '1m',
        input_series: [
          series('llmsoak_config_last_reload_successful{%s}' % J, '1x10 0x20'),
          series('llmsoak_config_last_reload_successful{%s}' % JB, '1x30'),
        ],
        alert_rule_test: [
          quiet('LlmSoakConfigReloadFailed', '12m'),
          fire('LlmSoakConfigReloadFailed', '20m', [inst('a')]),
        ],
      },
      // OTLP exports fail on a from 10 m; b exported fine.
      {
        interval: '1m',
        input_series: [
          series('llmsoak_otlp_export_failures_total{%s}' % J, '0x10 0+1x30'),
          series('llmsoak_otlp_export_failures_total{%s}' % JB, '0x40'),
        ],
        alert_rule_test: [
          quiet('LlmSoakOtlpExportFailing', '15m'),
          fire('LlmSoakOtlpExportFailing', '35m', [inst('a')]),
        ],
      },
      // Probes: a's target process vanishes (not found) at 10 m; b has no GPU at all (quiet:
      // nothing to see); c's GPU worked and is gone from 10 m.
      {
        interval: '1m',
        input_series: [
          series('llmsoak_probe_status{%s,probe="target"}' % J, '0x10 3x30'),
          series('llmsoak_probe_success{%s,probe="target"}' % J, '1x10 0x30'),
          series('llmsoak_probe_status{%s,probe="gpu"}' % JB, '1x40'),
          series('llmsoak_probe_success{%s,probe="gpu"}' % JB, '0x40'),
          series('llmsoak_probe_status{%s,probe="gpu"}' % JC, '0x10 2x30'),
          series('llmsoak_probe_success{%s,probe="gpu"}' % JC, '1x10 0x30'),
        ],
        alert_rule_test: [
          quiet('LlmSoakProbeBlind', '20m'),
          fire('LlmSoakProbeBlind', '35m', [inst('a') { probe: 'target' }, inst('c') { probe: 'gpu' }]),
        ],
      },
      // Canary: a stops probing at 20 m; b keeps probing but fails from 20 m (failing, not
      // stalled); c has just started with a 15 min interval (no probe yet: the start guard).
      {
        interval: '1m',
        input_series: [
          series('llmsoak_canary_probes_total{%s,outcome="success"}' % J, '0+1x20 20x40'),
          series('llmsoak_canary_probes_total{%s,outcome="failure"}' % J, '0x60'),
          series('llmsoak_canary_last_success_timestamp_seconds{%s}' % J, '0+60x20 1200x40'),
          series('llmsoak_canary_probes_total{%s,outcome="success"}' % JB, '0+1x20 20x40'),
          series('llmsoak_canary_probes_total{%s,outcome="failure"}' % JB, '0x20 0+1x40'),
          series('llmsoak_canary_last_success_timestamp_seconds{%s}' % JB, '0+60x20 1200x40'),
          series('llmsoak_canary_probes_total{%s,outcome="success"}' % JC, '0x12'),
          series('llmsoak_canary_last_success_timestamp_seconds{%s}' % JC, '0x12'),
        ] + started([J, JB], 60) + started([JC], 12),
        alert_rule_test: [
          quiet('LlmSoakCanaryFailing', '25m'),
          quiet('LlmSoakCanaryStalled', '12m'),
          quiet('LlmSoakCanaryStalled', '25m'),
          fire('LlmSoakCanaryStalled', '40m', [inst('a')]),
          fire('LlmSoakCanaryFailing', '40m', [inst('a'), inst('b')], '20m 0s'),
        ],
      },
      // TPOT and TTFT drift vs baseline: 20 ms / 100 ms for 2 h, then 25 ms / 130 ms on a; b
      // (another target, an A/B soak) sits at its own, higher baseline; the canary drifts but is
      // judged elsewhere.
      {
        interval: '1m',
        input_series: drift(J, R, [0.02, 0.025], [0.1, 0.13], [0.02, 0.1])
                      + drift(J, RB, [0.03125, 0.03125], [0.25, 0.25], [0.03125, 0.25])
                      + drift(J, RC, [0.02, 0.03], [0.1, 0.2], [0.02, 0.1]),
        alert_rule_test: [
          quiet('LlmSoakTpotDriftFromBaseline', '100m'),
          quiet('LlmSoakTtftDriftFromBaseline', '100m'),
          fire('LlmSoakTpotDriftFromBaseline', '190m', [model], '125%'),
          fire('LlmSoakTtftDriftFromBaseline', '190m', [model], '130%'),
        ],
        promql_expr_test: [{
          expr: 'llmsoak:tpot_seconds:mean30m{llmsoak_target="vllm-b"}',
          eval_time: '190m',
          exp_samples: [{
            labels: 'llmsoak:tpot_seconds:mean30m{job="llm-soak",llmsoak_target="vllm-b",llmsoak_scenario="steady",gen_ai_request_model="m1"}',
            value: 0.03125,
          }],
        }],
      },
      // TPOT day over day: 20 ms for 25 h, then 25 ms.
      {
        interval: '10m',
        input_series: [
          series('llmsoak_request_time_per_output_token_seconds_sum{%s,%s}' % [J, R], '0+12x150 1815+15x30'),
          series('llmsoak_request_time_per_output_token_seconds_count{%s,%s}' % [J, R], '0+600x181'),
        ],
        alert_rule_test: [
          quiet('LlmSoakTpotDriftDayOverDay', '1d'),
          quiet('LlmSoakTpotDriftDayOverDay', '25h30m'),
          fire('LlmSoakTpotDriftDayOverDay', '28h', [model]),
        ],
      },
      // TTFT SLO fast burn: 10 req/s; from 60 m, 20 % slower than 1 s. The canary's slow probes
      // and a trickle of a request every 2 minutes, half of them slow (under the minimum
      // traffic), stay quiet.
      {
        interval: '1m',
        input_series: [
          series('llmsoak_request_time_to_first_token_seconds_bucket{%s,%s,le="1"}' % [J, R], '0+600x60 36480+480x60'),
          series('llmsoak_requests_total{%s,%s,outcome="success"}' % [J, R], '0+600x121'),
          series('llmsoak_request_time_to_first_token_seconds_bucket{%s,%s,le="1"}' % [J, RC], '0x121'),
          series('llmsoak_requests_total{%s,%s,outcome="success"}' % [J, RC], '0+1x121'),
          series('llmsoak_request_time_to_first_token_seconds_bucket{%s,%s,le="1"}' % [J, RT], '0+0.25x121'),
          series('llmsoak_requests_total{%s,%s,outcome="success"}' % [J, RT], '0+0.5x121'),
        ],
        alert_rule_test: [
          quiet('LlmSoakTtftSloFastBurn', '70m'),
          quiet('LlmSoakTtftSloSlowBurn', '50m'),
          fire('LlmSoakTtftSloFastBurn', '110m', [slo]),
        ],
      },
      // Failures are bad events in the TTFT SLI too (Prometheus 3 style le="1.0" bound).
      {
        interval: '1m',
        input_series: [
          series('llmsoak_request_time_to_first_token_seconds_bucket{%s,%s,le="1.0"}' % [J, R], '0+600x60 36480+480x60'),
          series('llmsoak_requests_total{%s,%s,outcome="success"}' % [J, R], '0+600x60 36480+480x60'),
          series('llmsoak_requests_total{%s,%s,outcome="error",error_type="http_5xx"}' % [J, R], '0x60 0+120x60'),
        ],
        alert_rule_test: [fire('LlmSoakTtftSloFastBurn', '110m', [slo])],
      },
      // TTFT slow burn: 5 % slow all along (above 3x the 1 % budget, below the fast 14.4x and
      // 6x). Beside it, quiet: the canary, half its probes slow (its own alerts judge it), and a
      // trickle of a request every 20 minutes, half of them slow (under the minimum traffic of
      // every window).
      {
        interval: '10m',
        input_series: [
          series('llmsoak_request_time_to_first_token_seconds_bucket{%s,%s,le="1"}' % [J, R], '0+5700x60'),
          series('llmsoak_requests_total{%s,%s,outcome="success"}' % [J, R], '0+6000x60'),
          series('llmsoak_request_time_to_first_token_seconds_bucket{%s,%s,le="1"}' % [J, RC], '0+5x60'),
          series('llmsoak_requests_total{%s,%s,outcome="success"}' % [J, RC], '0+10x60'),
          series('llmsoak_request_time_to_first_token_seconds_bucket{%s,%s,le="1"}' % [J, RT], '0+0.25x60'),
          series('llmsoak_requests_total{%s,%s,outcome="success"}' % [J, RT], '0+0.5x60'),
        ],
        alert_rule_test: [
          quiet('LlmSoakTtftSloFastBurn', '5h'),
          fire('LlmSoakTtftSloSlowBurn', '5h', [slo]),
        ],
      },
      // Error budget fast burn: 5 % errors from 30 m; cancellations (b) never count, nor does an
      // abort storm on b (half its requests closed on purpose); the canary's failed probes (its
      // own alerts judge it) are not the soak's SLO.
      {
        interval: '1m',
        input_series: [
          series('llmsoak_requests_total{%s,%s,outcome="success"}' % [J, R], '0+60x30 1857+57x60'),
          series('llmsoak_requests_total{%s,%s,outcome="timeout",error_type="timeout"}' % [J, R], '0x30 3+3x60'),
          series('llmsoak_requests_total{%s,%s,outcome="success"}' % [JB, RB], '0+60x30 1857+57x60'),
          series('llmsoak_requests_total{%s,%s,outcome="cancelled",error_type="cancelled"}' % [JB, RB], '0x30 3+3x60'),
          series('llmsoak_requests_total{%s,%s,outcome="aborted",error_type="aborted"}' % [JB, RB], '0x30 30+30x60'),
          series('llmsoak_requests_total{%s,%s,outcome="success"}' % [J, RC], '0+1x90'),
          series('llmsoak_requests_total{%s,%s,outcome="error",error_type="http_5xx"}' % [J, RC], '0x30 0+1x60'),
        ],
        alert_rule_test: [
          quiet('LlmSoakErrorBudgetFastBurn', '25m'),
          quiet('LlmSoakErrorBudgetSlowBurn', '25m'),
          fire('LlmSoakErrorBudgetFastBurn', '60m', [slo]),
        ],
      },
      // Error budget slow burn: 0.5 % errors all along (above 3x the 0.1 % budget, below 6x).
      // Quiet beside it: the canary failing a probe in ten, and the trickle failing half its
      // requests.
      {
        interval: '10m',
        input_series: [
          series('llmsoak_requests_total{%s,%s,outcome="success"}' % [J, R], '0+5970x60'),
          series('llmsoak_requests_total{%s,%s,outcome="error",error_type="http_5xx"}' % [J, R], '0+30x60'),
          series('llmsoak_requests_total{%s,%s,outcome="success"}' % [J, RC], '0+9x60'),
          series('llmsoak_requests_total{%s,%s,outcome="error",error_type="http_5xx"}' % [J, RC], '0+1x60'),
          series('llmsoak_requests_total{%s,%s,outcome="success"}' % [J, RT], '0+0.25x60'),
          series('llmsoak_requests_total{%s,%s,outcome="error",error_type="http_5xx"}' % [J, RT], '0+0.25x60'),
        ],
        alert_rule_test: [
          quiet('LlmSoakErrorBudgetFastBurn', '5h'),
          fire('LlmSoakErrorBudgetSlowBurn', '5h', [slo]),
        ],
      },
      // Target restarted at 30 m.
      {
        interval: '1m',
        input_series: [
          series('llmsoak_target_process_restarts_total{%s,llmsoak_target="vllm"}' % J, '0x30 1x30'),
          series('llmsoak_target_process_restarts_total{%s,llmsoak_target="tgi"}' % J, '0x60'),
        ],
        alert_rule_test: [
          quiet('LlmTargetRestarted', '25m'),
          fire('LlmTargetRestarted', '35m', [inst('a') { llmsoak_target: 'vllm' }]),
          quiet('LlmTargetRestarted', '50m'),
        ],
      },
      // Target process memory: vllm's RSS +10 MiB/min from 2 GiB; tgi's flat; sglang restarts
      // at 60 m and loads back from zero to 2 GiB in 20 min (the restart guard).
      {
        interval: '1m',
        input_series: [
          series('llmsoak_target_process_memory_usage_bytes{%s,llmsoak_target="vllm"}' % J, '%d+%dx240' % [2048 * MIB, 10 * MIB]),
          series('llmsoak_target_process_memory_usage_bytes{%s,llmsoak_target="tgi"}' % J, '%dx240' % (2048 * MIB)),
          series('llmsoak_target_process_memory_usage_bytes{%s,llmsoak_target="sglang"}' % J,
                 '%dx60 0+%dx20 %dx160' % [2048 * MIB, std.round(102.4 * MIB), 2048 * MIB]),
          series('llmsoak_target_process_restarts_total{%s,llmsoak_target="sglang"}' % J, '0x60 1x180'),
        ],
        alert_rule_test: [
          quiet('LlmTargetProcessMemoryLeak', '50m'),
          fire('LlmTargetProcessMemoryLeak', '3h', [inst('a') { llmsoak_target: 'vllm' }]),
        ],
      },
      // Target fds: vllm leaks a socket per churned connection (+2 fds/min from 400); tgi holds a
      // steady pool of 400; sglang restarts at 60 m and opens its 400 back in 20 min (the restart
      // guard). On b, a run's own pool fills a quiet server's fds at its start (9 -> 20 in 5 min,
      // then up to 30 over the next 90 min as the load finds its level) and stays: the run's
      // warm-up guard (the 2h fit window must start after the run did) keeps it quiet; without
      // it, it fires within the first 2 h — as it did in the real-time soak of 2026-12-07. An
      // unrelated job with the same series leaking is not llm-soak's, never judged.
      {
        interval: '1m',
        input_series: [
          series('llmsoak_target_process_open_fds{%s,llmsoak_target="vllm"}' % J, '400+2x240'),
          series('llmsoak_target_process_open_fds{%s,llmsoak_target="tgi"}' % J, '400x240'),
          series('llmsoak_target_process_open_fds{%s,llmsoak_target="sglang"}' % J, '400x60 0+20x20 400x160'),
          series('llmsoak_target_process_restarts_total{%s,llmsoak_target="sglang"}' % J, '0x60 1x180'),
          series('llmsoak_target_process_open_fds{%s,llmsoak_target="sim"}' % JB,
                 '9 11 13 16 18 ' + vals(function(m) std.min(20 + m / 9, 30), 235)),
          series('llmsoak_target_process_open_fds{job="node",instance="n:9100",llmsoak_target="vllm"}', '400+2x240'),
          series('llmsoak_run_start_time_seconds{job="node",instance="n:9100"}', '0x240'),
        ] + started([J, JB], 240),
        alert_rule_test: [
          quiet('LlmTargetFileDescriptorLeak', '50m'),
          quiet('LlmTargetFileDescriptorLeak', '90m'),
          quiet('LlmTargetFileDescriptorLeak', '150m'),
          fire('LlmTargetFileDescriptorLeak', '3h5m', [inst('a') { llmsoak_target: 'vllm' }]),
        ],
      },
      // Target fds as a healthy server's really were in the two-hour soak of 2026-12-07 (the
      // simulator's, sampled by llm-soak each minute; Prometheus's own TSDB of that run): 20 ->
      // 29 as the client's pool found its high-water mark, then llm-soak itself killed at 61 m
      // and back at 67 m (its connections closed: 11; the restarted daemon's opened at once: 92),
      // then 26-34 — and on, as that creep would go, to 6 h. A resumed run keeps its start, so
      // the run's warm-up guard lifts at 2 h with the restart in the fit window: the alert went
      // pending there. It never fires: once the fit window has passed the restart, the creep
      // is too slow for the recent-growth and projection conditions to hold for an hour.
      {
        interval: '1m',
        input_series: [
          series('llmsoak_target_process_open_fds{%s,llmsoak_target="sim"}' % JB,
                 '20 20 20 21 21 20 21 23 23 21 21 25 25 25 21 22 22 22 22 23 23 23 23 23 21 22 23 25 25 24 23 25 25 23 22 24 25 25 22 27 27 27 23 24 24 24 24 24 24 24 24 25 27 27 24 27 29 29 27 27 27 _ _ _ _ _ _ 11 92 26 26 26 25 28 28 26 26 25 26 34 34 27 27 26 26 26 29 29 29 28 28 28 28 28 29 29 27 27 26 28 28 28 28 28 28 28 32 32 29 29 31 31 29 29 29 28 29 29 28 28 28 ' + vals(function(m) 28 + (m + 1) / 48 + std.mod(m * 7, 5) - 2, 239)),
        ] + started([JB], 360),
        alert_rule_test: [
          quiet('LlmTargetFileDescriptorLeak', t)
          for t in ['2h', '2h30m', '3h', '3h30m', '4h', '5h', '6h']
        ],
      },
      // GPU memory: GPU-0 creeps (NVML); GPU-1 loads a model at 30 m (10 -> 72 GiB) and stays;
      // DCGM of the system under test creeps, DCGM of another job creeps too (never ours to page
      // on).
      {
        interval: '1m',
        input_series: [
          series('hw_gpu_memory_usage_bytes{%s}' % G0, '%d+%dx150' % [10240 * MIB, 300 * MIB]),
          series('hw_gpu_memory_limit_bytes{%s}' % G0, '%dx150' % (81559 * MIB)),
          series('hw_gpu_memory_usage_bytes{%s}' % G1, '%dx30 %dx120' % [10240 * MIB, 73400 * MIB]),
          series('hw_gpu_memory_limit_bytes{%s}' % G1, '%dx150' % (81559 * MIB)),
          series('DCGM_FI_DEV_FB_USED{job="dcgm-exporter",instance="n1",gpu="0",UUID="GPU-9"}', '10000+300x150'),
          series('DCGM_FI_DEV_FB_FREE{job="dcgm-exporter",instance="n1",gpu="0",UUID="GPU-9"}', '71920-300x150'),
          series('DCGM_FI_DEV_FB_USED{job="dcgm-other",instance="n2",gpu="0",UUID="GPU-7"}', '10000+300x150'),
          series('DCGM_FI_DEV_FB_FREE{job="dcgm-other",instance="n2",gpu="0",UUID="GPU-7"}', '71920-300x150'),
        ],
        alert_rule_test: [
          quiet('LlmTargetGpuMemoryCreep', '20m'),
          fire('LlmTargetGpuMemoryCreep', '2h', [gpu0, { job: 'dcgm-exporter', instance: 'n1', gpu: '0', UUID: 'GPU-9' }]),
        ],
      },
      // GPU throttling: GPU-0 busy, its SM clock drops to 1.4 GHz at 60 m; GPU-1 idles at a low
      // clock.
      {
        interval: '1m',
        input_series: [
          series('hw_gpu_clock_sm_hertz{%s}' % G0, '1980000000x60 1400000000x60'),
          series('hw_gpu_utilization_ratio{%s}' % G0, '0.9x120'),
          series('hw_gpu_clock_sm_hertz{%s}' % G1, '1980000000x60 345000000x60'),
          series('hw_gpu_utilization_ratio{%s}' % G1, '0.9x60 0x60'),
        ],
        alert_rule_test: [
          quiet('LlmTargetGpuThrottling', '65m'),
          fire('LlmTargetGpuThrottling', '90m', [gpu0]),
        ],
      },
      // vLLM: the queue grows and it preempts on the system under test (s1) and on another vLLM
      // job in the same Prometheus (never ours to page on).
      {
        interval: '1m',
        input_series: [
          series('vllm:num_requests_waiting{%s}' % V1, '0+1x120'),
          series('vllm:num_requests_waiting{%s}' % VO, '0+1x120'),
          series('vllm:num_preemptions_total{%s}' % V1, '0x10 0+5x110'),
          series('vllm:num_preemptions_total{%s}' % VO, '0x10 0+5x110'),
        ],
        alert_rule_test: [
          quiet('LlmTargetQueueGrowing', '20m'),
          fire('LlmTargetQueueGrowing', '90m', [vllm1]),
          quiet('LlmTargetPreempting', '20m'),
          fire('LlmTargetPreempting', '40m', [vllm1]),
        ],
      },
      // KV cache floor: s1 leaks (each half hour's least usage climbs 0.06 — aborted requests'
      // blocks never freed) under a load that swings usage by 0.3 every other minute. Quiet beside
      // it: the same curve on another vLLM job; s2 at a steady swing; s3 with a load step at 60 m
      // (the floor moves once) and s4 restarting at 60 m (usage to 0, refilled in 5 min, then
      // flat).
      {
        interval: '1m',
        input_series: [
          series(kv('s1:8000'), swing(function(m) 0.05 + 0.002 * m)),
          series(kv('o1:8000', 'vllm-other'), swing(function(m) 0.05 + 0.002 * m)),
          series(kv('s2:8000'), swing(function(m) 0.2)),
          series(kv('s3:8000'), swing(function(m) if m < 60 then 0.1 else 0.4)),
          series(kv('s4:8000'), swing(function(m) if m < 60 then 0.2 else if m < 62 then 0.0 else std.min(0.2, 0.04 * (m - 60)))),
        ],
        alert_rule_test: [
          quiet('LlmTargetKvCacheLeak', '80m'),
          fire('LlmTargetKvCacheLeak', '150m', [vllm1], '29%'),
          fire('LlmTargetKvCacheLeak', '4h', [vllm1], '47%'),
        ],
      },
    ],
  },
}
