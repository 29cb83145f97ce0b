// Recording rules. Conventions (docs/alerts.md): select on llm-soak's own metric names (plus
// _config.llmsoakSelector), keep job and llmsoak_target in every `by` (an A/B soak never blends
// two targets), match bucket bounds by regex (Prometheus 3 writes le="1.0"), failures are bad
// events in every SLI; cancelled requests (drain, reload, shutdown) and aborted ones (closed on
// purpose by a scenario's `abort`) are never counted.
{
  local c = $._config,
  local s(name, m=[]) = $.sel(name, [c.llmsoakSelector] + m),
  local by = 'job, llmsoak_target, llmsoak_scenario, gen_ai_request_model',
  local sliBy = 'job, llmsoak_target, llmsoak_scenario',
  local windows = std.set([t.long for t in c.fastBurn + c.slowBurn] + [t.short for t in c.fastBurn + c.slowBurn]),
  local le = 'le=~"%s(\\\\.0)?"' % c.ttftSloSeconds,

  local mean(record, metric, w) = {
    record: record,
    expr: |||
      sum by (%(by)s) (rate(%(sum)s[%(w)s]))
      /
      sum by (%(by)s) (rate(%(count)s[%(w)s]))
    ||| % { by: by, w: w, sum: s(metric + '_sum'), count: s(metric + '_count') },
  },

  prometheusRules+:: {
    groups+: [{
      name: 'llmsoak-recording',
      interval: '30s',
      rules: [
        // Means: exact (sum / count), no bucket interpolation. The drift signals.
        mean('llmsoak:tpot_seconds:mean5m', 'llmsoak_request_time_per_output_token_seconds', '5m'),
        mean('llmsoak:tpot_seconds:mean30m', 'llmsoak_request_time_per_output_token_seconds', '30m'),
        mean('llmsoak:ttft_seconds:mean30m', 'llmsoak_request_time_to_first_token_seconds', '30m'),
      ] + [
        // Availability SLI: failed (error, timeout) share of the judged (non-cancelled, non-aborted) requests.
        {
          record: 'llmsoak:request_error:ratio_rate%s' % w,
          expr: |||
            sum by (%(by)s) (rate(%(bad)s[%(w)s]))
            / sum by (%(by)s) (rate(%(all)s[%(w)s]))
          ||| % { by: sliBy, w: w, bad: s('llmsoak_requests_total', ['outcome=~"error|timeout"']), all: s('llmsoak_requests_total', ['outcome!~"cancelled|aborted"']) },
        }
        for w in windows
      ] + [
        // TTFT SLI: good = successes with a first token within the SLO, total = every judged
        // request, so failures are bad events.
        {
          record: 'llmsoak:ttft_slow:ratio_rate%s' % w,
          expr: |||
            1 - (
              sum by (%(by)s) (rate(%(good)s[%(w)s]))
              / sum by (%(by)s) (rate(%(all)s[%(w)s])))
          ||| % { by: sliBy, w: w, good: s('llmsoak_request_time_to_first_token_seconds_bucket', [le]), all: s('llmsoak_requests_total', ['outcome!~"cancelled|aborted"']) },
        }
        for w in windows
      ],
    }],
  },
}
