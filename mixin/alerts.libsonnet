// Alert rules: the load generator's own health, its runs and shards, the canary, the target's
// SLOs and drift, and (when llm-soak samples them, or they are scraped under the configured
// selectors) the target server's process, vLLM and its GPUs. Every alert has `for`, `severity`,
// `summary`, `description` and a `runbook_url` into docs/runbooks.md, promtool tests that fire it
// and keep it quiet through ordinary conditions (alerts/tests/), and a place in the rehearsal
// (tests/it/rehearsal.rs). docs/alerts.md explains each one's guard and tuning knob.
{
  local c = $._config,
  local s(name, m=[]) = $.sel(name, [c.llmsoakSelector] + m),
  local v(name, m=[]) = $.sel(name, [c.vllmSelector] + m),
  local d(name, m=[]) = $.sel(name, [c.dcgmSelector] + m),
  local runbook(name) = c.runbookUrl % std.asciiLower(name),
  local alert(name, expr, f, severity, summary, description) = {
    alert: name,
    expr: expr,
    'for': f,
    labels: { severity: severity },
    annotations: { summary: summary, description: description, runbook_url: runbook(name) },
  },
  local uptime = '(time() - %s)' % s('llmsoak_run_start_time_seconds'),
  local rss = '(%s or %s)' % [s('process_resident_memory_bytes'), s('process_memory_usage_bytes')],
  local fds = '(%s or %s)' % [s('process_open_fds'), s('llmsoak_process_open_fds')],
  local maxFds = '(%s or %s)' % [s('process_max_fds'), s('llmsoak_process_max_fds')],
  local horizon = c.leakHorizonHours * 3600,
  local soak = 'llmsoak_scenario!="canary"',
  local sliBy = 'job, llmsoak_target, llmsoak_scenario',

  // A burn-rate condition over the tiers of `tiers` for the recorded SLI `sli`.
  local burn(sli, objective, tiers) = std.join('\nor\n', [
    |||
      (
        %(sli)s:ratio_rate%(long)s{%(soak)s} > (%(f)g * %(budget)g)
        and %(sli)s:ratio_rate%(short)s{%(soak)s} > (%(f)g * %(budget)g)
      )
      and on (%(by)s) sum by (%(by)s) (increase(%(all)s[%(long)s])) >= %(min)d
    ||| % {
      sli: sli,
      long: t.long,
      short: t.short,
      f: t.factor,
      budget: 1 - objective,
      soak: soak,
      by: sliBy,
      all: s('llmsoak_requests_total', ['outcome!~"cancelled|aborted"', soak]),
      min: c.sloMinRequests,
    }
    for t in tiers
  ]),
  local tiersText(tiers) = std.join(' or ', ['%gx (%s/%s)' % [t.factor, t.long, t.short] for t in tiers]),

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'llmsoak-client',
        rules: [
          alert(
            'LlmSoakClientMemoryLeak',
            |||
              (
                deriv(%(rss)s[1h:1m]) > 0
                and deriv(%(rss)s[%(recent)s:1m]) > %(minGrowth)g * %(rss)s / 3600
                and predict_linear(%(rss)s[1h:1m], %(horizon)d) > %(factor)g * min_over_time(%(rss)s[1h:1m])
              )
              and on (job, instance) %(uptime)s > %(warmup)d
            ||| % { rss: rss, recent: c.leakRecentWindow, minGrowth: c.leakMinGrowthPerHour, horizon: horizon, factor: c.leakGrowthFactor, uptime: uptime, warmup: c.clientLeakWarmupSeconds },
            '45m',
            'warning',
            "llm-soak's own memory is growing steadily",
            'RSS of llm-soak on {{ $labels.instance }} is still growing and is projected to exceed %gx its 1h minimum within %dh; a leaking load generator invalidates a soak.' % [c.leakGrowthFactor, c.leakHorizonHours],
          ),
          alert(
            'LlmSoakFileDescriptorLeak',
            |||
              (
                predict_linear(%(fds)s[1h:1m], %(horizon)d) > on (job, instance) group_left () %(max)s
                and deriv(%(fds)s[%(recent)s:1m]) > 0
              )
              and on (job, instance) %(uptime)s > 3600
            ||| % { fds: fds, max: maxFds, horizon: horizon, recent: c.leakRecentWindow, uptime: uptime },
            '30m',
            'warning',
            'llm-soak will run out of file descriptors within %dh' % c.leakHorizonHours,
            'Open fds of llm-soak on {{ $labels.instance }} are projected to pass the limit within %dh: connections or files are leaking.' % c.leakHorizonHours,
          ),
          alert(
            'LlmSoakDaemonDown',
            |||
              %(up)s == 0
              unless on (job, instance) max_over_time(%(end)s[7d]) <= time()
            ||| % { up: s('up'), end: s('llmsoak_run_planned_end_timestamp_seconds') },
            '5m',
            'critical',
            'Prometheus cannot scrape llm-soak on {{ $labels.instance }}',
            'The llm-soak target {{ $labels.instance }} ({{ $labels.job }}) has failed its scrapes for 5 minutes.',
          ),
          alert(
            'LlmSoakRunStoppedEarly',
            |||
              max by (job, llmsoak_shard) (
                max_over_time((%(end)s * on (job, instance) group_left (llmsoak_shard) %(info)s)[6h:1m])
              ) > time()
              unless on (job) max by (job) (%(info)s)
              unless on (job) max by (job) (%(up)s == 0)
            ||| % { end: s('llmsoak_run_planned_end_timestamp_seconds'), info: s('llmsoak_run_info'), up: s('up') },
            '5m',
            'critical',
            'An llm-soak run stopped reporting before its planned end',
            'Job {{ $labels.job }} (shard {{ $labels.llmsoak_shard }}) planned to send load until later but no replica of it reports any more: the soak or canary died, and its silence would otherwise read as health.',
          ),
          alert(
            'LlmSoakShardMissing',
            |||
              max by (job) (max_over_time(%(shards)s[1h])) > count by (job) (%(info)s)
              and on (job) max by (job) (%(end)s) > time()
            ||| % { shards: s('llmsoak_run_shards'), info: s('llmsoak_run_info'), end: s('llmsoak_run_planned_end_timestamp_seconds') },
            '5m',
            'warning',
            'A sharded soak is missing replicas',
            'Job {{ $labels.job }} runs fewer replicas than its shard count: the offered load is silently short by the missing shards.',
          ),
          alert(
            'LlmSoakClientSaturated',
            |||
              (
                max_over_time(%(inflight)s[5m])
                  / on (job, instance) (%(limit)s > 0) >= %(ratio)g
              )
              or on (job, instance)
              sum by (job, instance) (rate(%(dropped)s[5m])) > 0
              or on (job, instance)
              histogram_quantile(0.99, sum by (job, instance, le) (rate(%(lag)s[5m]))) > %(lagmax)g
            ||| % { inflight: s('llmsoak_requests_in_flight'), limit: s('llmsoak_concurrency_limit'), ratio: c.saturationRatio, dropped: s('llmsoak_schedule_dropped_total', ['reason=~"max_in_flight|max_sessions"']), lag: s('llmsoak_schedule_lag_seconds_bucket'), lagmax: c.scheduleLagSeconds },
            '5m',
            'warning',
            'The load generator, not the server, is the bottleneck; latency numbers are suspect',
            'llm-soak on {{ $labels.instance }} is at its concurrency limit, dropping arrivals or sending late (schedule lag p99 > %gs).' % c.scheduleLagSeconds,
          ),
          alert(
            'LlmSoakConfigReloadFailed',
            '%s == 0' % s('llmsoak_config_last_reload_successful'),
            '5m',
            'warning',
            'A config reload of llm-soak failed; it runs the previous config',
            'The last reload on {{ $labels.instance }} was refused: the file on disk is not what runs. GET /api/v1/status shows the running config; POST /-/reload says why.',
          ),
          alert(
            'LlmSoakOtlpExportFailing',
            'rate(%s[10m]) > 0' % s('llmsoak_otlp_export_failures_total'),
            '15m',
            'warning',
            'llm-soak cannot push its metrics over OTLP',
            'OTLP exports from {{ $labels.instance }} have failed for 15 minutes: the collector is down or refusing; /metrics is unaffected.',
          ),
          alert(
            'LlmSoakProbeBlind',
            |||
              (%(status)s == 3 or %(status)s == 5)
              or (%(success)s == 0 and on (job, instance, probe) max_over_time(%(success)s[1d]) == 1)
            ||| % { status: s('llmsoak_probe_status'), success: s('llmsoak_probe_success') },
            '15m',
            'warning',
            "llm-soak's {{ $labels.probe }} probe cannot read",
            'The {{ $labels.probe }} probe on {{ $labels.instance }} finds nothing or fails: the alerts that need it (target process, GPU) are blind.',
          ),
        ],
      },
      {
        name: 'llmsoak-canary',
        rules: [
          alert(
            'LlmSoakCanaryStalled',
            |||
              sum by (job, instance) (increase(%(probes)s[%(w)ds])) == 0
              and on (job, instance) %(uptime)s > %(grace)d
            ||| % { probes: s('llmsoak_canary_probes_total'), w: c.canaryStalledSeconds, uptime: uptime, grace: c.canaryStalledSeconds + 300 },
            '5m',
            'critical',
            'The canary on {{ $labels.instance }} has stopped probing',
            'No canary probe, successful or not, in %d minutes: the probe loop is stuck.' % (c.canaryStalledSeconds / 60),
          ),
          alert(
            'LlmSoakCanaryFailing',
            'time() - %s > %d' % [s('llmsoak_canary_last_success_timestamp_seconds'), c.canaryFailingSeconds],
            '0m',
            'critical',
            'No successful canary answer for more than %d minutes' % (c.canaryFailingSeconds / 60),
            'The canary on {{ $labels.instance }} last succeeded {{ $value | humanizeDuration }} ago.',
          ),
        ],
      },
      {
        name: 'llmsoak-slo',
        rules: [
          alert(
            'LlmSoakTpotDriftFromBaseline',
            |||
              (
                llmsoak:tpot_seconds:mean30m{%(soak)s}
                / on (job, llmsoak_target, llmsoak_scenario, gen_ai_request_model)
                max by (job, llmsoak_target, llmsoak_scenario, gen_ai_request_model) (%(base)s)
              ) > %(ratio)g
            ||| % { soak: soak, base: s('llmsoak_baseline_time_per_output_token_seconds', ['stat="mean"']), ratio: c.tpotDriftRatio },
            c.driftFor,
            'warning',
            'TPOT drifted more than %d %% above the soak\'s baseline' % std.round((c.tpotDriftRatio - 1) * 100),
            'Mean TPOT of {{ $labels.llmsoak_target }} ({{ $labels.gen_ai_request_model }}, {{ $labels.llmsoak_scenario }}) is {{ $value | humanizePercentage }} of its baseline.',
          ),
          alert(
            'LlmSoakTtftDriftFromBaseline',
            |||
              (
                llmsoak:ttft_seconds:mean30m{%(soak)s}
                / on (job, llmsoak_target, llmsoak_scenario, gen_ai_request_model)
                max by (job, llmsoak_target, llmsoak_scenario, gen_ai_request_model) (%(base)s)
              ) > %(ratio)g
            ||| % { soak: soak, base: s('llmsoak_baseline_time_to_first_token_seconds', ['stat="mean"']), ratio: c.ttftDriftRatio },
            c.driftFor,
            'warning',
            'TTFT drifted more than %d %% above the soak\'s baseline' % std.round((c.ttftDriftRatio - 1) * 100),
            'Mean TTFT of {{ $labels.llmsoak_target }} ({{ $labels.gen_ai_request_model }}, {{ $labels.llmsoak_scenario }}) is {{ $value | humanizePercentage }} of its baseline.',
          ),
          alert(
            'LlmSoakTpotDriftDayOverDay',
            'llmsoak:tpot_seconds:mean30m > %g * (llmsoak:tpot_seconds:mean30m offset 1d)' % c.tpotDriftRatio,
            '1h',
            'info',
            'TPOT is more than %d %% worse than at the same time yesterday' % std.round((c.tpotDriftRatio - 1) * 100),
            'Mean TPOT of {{ $labels.llmsoak_target }} ({{ $labels.gen_ai_request_model }}, {{ $labels.llmsoak_scenario }}) is above %gx its value 24h ago.' % c.tpotDriftRatio,
          ),
          alert(
            'LlmSoakTtftSloFastBurn',
            burn('llmsoak:ttft_slow', c.ttftObjective, c.fastBurn),
            '2m',
            'critical',
            'The TTFT SLO (%g %% within %ss) error budget is burning fast' % [c.ttftObjective * 100, c.ttftSloSeconds],
            'Scenario {{ $labels.llmsoak_scenario }} of {{ $labels.llmsoak_target }} is burning its 30-day TTFT budget at %s.' % tiersText(c.fastBurn),
          ),
          alert(
            'LlmSoakTtftSloSlowBurn',
            burn('llmsoak:ttft_slow', c.ttftObjective, c.slowBurn),
            '1h',
            'warning',
            'The TTFT SLO (%g %% within %ss) error budget is burning slowly' % [c.ttftObjective * 100, c.ttftSloSeconds],
            'Scenario {{ $labels.llmsoak_scenario }} of {{ $labels.llmsoak_target }} is spending its 30-day TTFT budget at %s: a ticket, not a page.' % tiersText(c.slowBurn),
          ),
          alert(
            'LlmSoakErrorBudgetFastBurn',
            burn('llmsoak:request_error', c.availabilityObjective, c.fastBurn),
            '2m',
            'critical',
            'The request error ratio is burning the %g %% availability budget fast' % (c.availabilityObjective * 100),
            'Scenario {{ $labels.llmsoak_scenario }} of {{ $labels.llmsoak_target }} fails requests fast enough to spend its 30-day budget early (%s).' % tiersText(c.fastBurn),
          ),
          alert(
            'LlmSoakErrorBudgetSlowBurn',
            burn('llmsoak:request_error', c.availabilityObjective, c.slowBurn),
            '1h',
            'warning',
            'The request error ratio is slowly spending the %g %% availability budget' % (c.availabilityObjective * 100),
            'Scenario {{ $labels.llmsoak_scenario }} of {{ $labels.llmsoak_target }} fails requests at %s of its budget rate: a ticket, not a page.' % tiersText(c.slowBurn),
          ),
        ],
      },
      {
        name: 'llmsoak-target',
        rules: [
          alert(
            'LlmTargetRestarted',
            'increase(%s[10m]) > 0' % s('llmsoak_target_process_restarts_total'),
            '0m',
            'warning',
            'The target server process restarted',
            'The {{ $labels.llmsoak_target }} server process sampled by llm-soak on {{ $labels.instance }} has a new pid: a crash or an OOM kill in the middle of a soak is its main verdict.',
          ),
          alert(
            'LlmTargetFileDescriptorLeak',
            |||
              (
                deriv(%(fds)s[2h]) > 0
                and deriv(%(fds)s[%(recent)s]) > %(minGrowth)g * %(fds)s / 3600
                and predict_linear(%(fds)s[2h], %(horizon)d) > %(factor)g * min_over_time(%(fds)s[2h])
              )
              unless on (job, instance, llmsoak_target) increase(%(restarts)s[%(warmup)ds]) > 0
              and on (job, instance) %(uptime)s > %(runWarmup)d
            ||| % { fds: s('llmsoak_target_process_open_fds'), recent: c.leakRecentWindow, minGrowth: c.leakMinGrowthPerHour, horizon: horizon, factor: c.leakGrowthFactor, restarts: s('llmsoak_target_process_restarts_total'), warmup: c.targetLeakWarmupSeconds, uptime: uptime, runWarmup: c.targetFdRunWarmupSeconds },
            '1h',
            'warning',
            "The target server process's open file descriptors keep growing",
            'Open fds of the {{ $labels.llmsoak_target }} server process tree (sampled by llm-soak on {{ $labels.instance }}) are still growing and projected to exceed %gx their 2h minimum within %dh: connections (sockets left in CLOSE_WAIT) or files are leaking.' % [c.leakGrowthFactor, c.leakHorizonHours],
          ),
          alert(
            'LlmTargetProcessMemoryLeak',
            |||
              (
                deriv(%(mem)s[2h]) > 0
                and deriv(%(mem)s[%(recent)s]) > %(minGrowth)g * %(mem)s / 3600
                and predict_linear(%(mem)s[2h], %(horizon)d) > %(factor)g * min_over_time(%(mem)s[2h])
              )
              unless on (job, instance, llmsoak_target) increase(%(restarts)s[%(warmup)ds]) > 0
            ||| % { mem: s('llmsoak_target_process_memory_usage_bytes'), recent: c.leakRecentWindow, minGrowth: c.leakMinGrowthPerHour, horizon: horizon, factor: c.leakGrowthFactor, restarts: s('llmsoak_target_process_restarts_total'), warmup: c.targetLeakWarmupSeconds },
            '1h',
            'warning',
            "The target server process's memory is growing steadily",
            'RSS of the {{ $labels.llmsoak_target }} server process tree (sampled by llm-soak on {{ $labels.instance }}) is still growing and is projected to exceed %gx its 2h minimum within %dh.' % [c.leakGrowthFactor, c.leakHorizonHours],
          ),
          alert(
            'LlmTargetGpuMemoryCreep',
            |||
              (
                deriv(%(used)s[2h]) > 0
                and deriv(%(used)s[%(recent)s]) > 0
                and predict_linear(%(used)s[2h], %(horizon)d)
                  > on (job, instance, hw_id) group_left %(limit)s
              )
              or
              (
                deriv(%(fb)s[2h]) > 0
                and deriv(%(fb)s[%(recent)s]) > 0
                and predict_linear(%(fb)s[2h], %(horizon)d) > (%(fb)s + %(free)s)
              )
            ||| % { used: s('hw_gpu_memory_usage_bytes'), limit: s('hw_gpu_memory_limit_bytes'), recent: c.leakRecentWindow, horizon: horizon, fb: d('DCGM_FI_DEV_FB_USED'), free: d('DCGM_FI_DEV_FB_FREE') },
            '45m',
            'warning',
            'GPU memory on the target is creeping towards its limit',
            'GPU {{ $labels.hw_id }}{{ $labels.UUID }} on {{ $labels.instance }} is still growing and is projected to run out of memory within %dh.' % c.leakHorizonHours,
          ),
          alert(
            'LlmTargetGpuThrottling',
            |||
              %(clock)s < %(ratio)g * max_over_time(%(clock)s[1d])
              and on (job, instance, hw_id) %(util)s > %(busy)g
            ||| % { clock: s('hw_gpu_clock_sm_hertz'), util: s('hw_gpu_utilization_ratio'), ratio: c.gpuThrottleRatio, busy: c.gpuBusyRatio },
            '15m',
            'warning',
            'A busy GPU of the target runs below its usual clock',
            'GPU {{ $labels.hw_id }} on {{ $labels.instance }} is busy but its SM clock is under %d %% of its day\'s maximum: thermal or power throttling slows every token.' % std.round(c.gpuThrottleRatio * 100),
          ),
          alert(
            'LlmTargetQueueGrowing',
            'deriv(%(w)s[30m]) > 0 and %(w)s > 0' % { w: v('vllm:num_requests_waiting') },
            '30m',
            'warning',
            "The target's request queue keeps growing",
            'vLLM on {{ $labels.instance }} has had a growing waiting queue for 30 minutes under the soak\'s load: capacity is drifting.',
          ),
          alert(
            'LlmTargetKvCacheLeak',
            // The floor of KV usage (its least over 30 minutes: what no request holds) rising in
            // each of three consecutive half hours. Load varies the level, a load step or a
            // restart moves the floor once; only KV that is never freed raises it again and again.
            |||
              %(f)s > %(f1)s + %(d)g
              and %(f1)s > %(f2)s + %(d)g
              and %(f2)s > %(f3)s + %(d)g
            ||| % {
              f: 'min_over_time(%s[30m])' % v('vllm:kv_cache_usage_perc'),
              f1: 'min_over_time(%s[30m] offset 30m)' % v('vllm:kv_cache_usage_perc'),
              f2: 'min_over_time(%s[30m] offset 1h)' % v('vllm:kv_cache_usage_perc'),
              f3: 'min_over_time(%s[30m] offset 90m)' % v('vllm:kv_cache_usage_perc'),
              d: c.kvFloorRisePerHalfHour,
            },
            '15m',
            'warning',
            "The target's KV cache is never freed",
            'vLLM on {{ $labels.instance }} ({{ $labels.model_name }}): the least KV cache usage of each half hour has risen for 90 minutes (now {{ $value | humanizePercentage }}): sequences end without freeing their blocks — aborted requests are the usual cause.',
          ),
          alert(
            'LlmTargetPreempting',
            'sum by (job, instance, model_name) (rate(%s[5m])) > 0' % v('vllm:num_preemptions_total'),
            '15m',
            'info',
            'The target is preempting sequences',
            'vLLM on {{ $labels.instance }} ({{ $labels.model_name }}) has preempted sequences for 15 minutes: KV cache pressure recomputes work.',
          ),
        ],
      },
    ],
  },
}
