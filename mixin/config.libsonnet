// llm-soak's monitoring mixin: the one place to tune the alerts and recording rules. Everything
// in alerts/, the Grafana-managed rules and the PrometheusRule is rendered from this directory by
// scripts/render-mixin.py (CI checks the rendered files equal the committed ones). With
// kube-prometheus, import mixin.libsonnet and override _config:
//   (import 'llm-soak/mixin/mixin.libsonnet') + { _config+:: { vllmSelector: 'job="my-vllm"' } }
{
  _config+:: {
    // Which series belong to the system under test, added to every selector of its kind: the
    // scrape jobs of llm-soak (its `up`, and the generic process_* names), of the engine and of
    // the GPU exporter. Other vLLM or DCGM jobs in the same Prometheus are never alerted on.
    llmsoakSelector: 'job=~"llm-soak.*"',
    vllmSelector: 'job="vllm"',
    dcgmSelector: 'job="dcgm-exporter"',

    // SLOs of the soak's own requests (the canary is judged by its own alerts).
    ttftSloSeconds: '1',  // a catalogue bucket bound: le="1" (or "1.0" from Prometheus 3)
    ttftObjective: 0.99,
    availabilityObjective: 0.999,
    // Burn-rate tiers (Google SRE workbook): page fast, ticket slow.
    fastBurn: [{ long: '1h', short: '5m', factor: 14.4 }, { long: '6h', short: '30m', factor: 6 }],
    slowBurn: [{ long: '1d', short: '2h', factor: 3 }, { long: '3d', short: '6h', factor: 1 }],
    // Fewest judged requests in the long window before a burn alert may fire.
    sloMinRequests: 100,

    // Drift against the run's own baseline, and day over day.
    tpotDriftRatio: 1.15,
    ttftDriftRatio: 1.25,
    driftFor: '30m',

    // Leaks: projected growth over the horizon, guarded by the warm-up after a (re)start.
    leakHorizonHours: 4,
    leakGrowthFactor: 1.5,
    // Growth in the last leakRecentWindow must still be at least this share of the level per
    // hour: a step (a load phase, a pool filling, a model loading) goes flat and stops counting.
    leakMinGrowthPerHour: 0.01,
    leakRecentWindow: '30m',
    clientLeakWarmupSeconds: 7200,
    // After a target restart its memory grows back for a while: no leak verdict until its 2h
    // fit window starts well after the restart.
    targetLeakWarmupSeconds: 14400,
    // A run's own connections fill the target's fds at its start (the pool growing to its
    // size, with the noise of idle connections closing and opening): no fd leak verdict until
    // the 2h fit window starts after that.
    targetFdRunWarmupSeconds: 7200,

    // The canary.
    canaryStalledSeconds: 600,  // longer than canary.interval
    canaryFailingSeconds: 600,

    // The client.
    scheduleLagSeconds: 0.1,
    saturationRatio: 0.95,

    // The target's KV cache: the least usage of a half hour rising by this much, three half
    // hours running, is a leak (LlmTargetKvCacheLeak).
    kvFloorRisePerHalfHour: 0.02,

    // GPU: an SM clock this far below its day's maximum while busy is throttling.
    gpuThrottleRatio: 0.8,
    gpuBusyRatio: 0.5,

    runbookUrl: 'https://github.com/llm-soak/llm-soak/blob/main/docs/runbooks.md#%s',
  },

  // `name{a, b}` from the non-empty matchers.
  sel(name, matchers=[]):: name + '{' + std.join(', ', std.filter(function(m) m != '', matchers)) + '}',
}
