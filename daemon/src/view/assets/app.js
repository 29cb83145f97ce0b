// llm-soak's page: draws a View (see daemon/src/view) with uPlot. The same code serves the
// self-contained HTML report (the view is embedded in the page) and the live page at `/`
// (the view is polled from /api/v1/view, new windows appended). No network beyond that.
"use strict";
(function () {
  const selfcheck = { errors: [], charts: {}, rendered: 0 };
  window.__llmsoak = selfcheck;
  window.addEventListener("error", (e) => selfcheck.errors.push(String(e.message)));
  const origError = console.error;
  console.error = function (...a) {
    selfcheck.errors.push(a.map(String).join(" "));
    origError.apply(console, a);
  };

  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"];
  const EVENT_COLORS = { start: "#2ca02c", warmup_end: "#7f7f7f", phase: "#9467bd", reload: "#17becf", target_restart: "#d62728", baseline: "#bcbd22", gate_breach: "#d62728", stop: "#333", resumed: "#ff7f0e" };
  const $ = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else e.setAttribute(k, v);
    }
    for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(k == null ? "" : String(k)));
    return e;
  };
  const ms = (s) => (s == null ? "–" : s < 1 ? (s * 1e3).toPrecision(3) + " ms" : s.toPrecision(3) + " s");
  const pct = (f) => (f == null ? "–" : (f * 100).toFixed(2) + " %");
  const num = (v, d) => (v == null ? "–" : Number(v).toFixed(d == null ? 2 : d));
  const bytes = (b) => (b == null ? "–" : (b / 1048576).toFixed(1) + " MiB");
  const dur = (s) => {
    s = Math.max(0, Math.round(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), x = s % 60;
    return h ? `${h}h${String(m).padStart(2, "0")}m` : m ? `${m}m${String(x).padStart(2, "0")}s` : `${x}s`;
  };

  function table(head, rows, cls) {
    return $("table", { class: cls || "" },
      $("thead", {}, $("tr", {}, ...head.map((h) => $("th", {}, h)))),
      $("tbody", {}, ...rows.map((r) => $("tr", {}, ...r.map((c) => (c instanceof Node ? $("td", {}, c) : $("td", {}, c)))))));
  }
  function badge(v) {
    return $("span", { class: "badge " + (v || "none") }, v || "no gates");
  }

  // Phase bands, spike recovery and event markers, drawn under/over every time chart.
  function bandsPlugin(view, withSpikes) {
    const s = view.series;
    return {
      hooks: {
        drawClear: [(u) => {
          const ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
          ctx.save();
          for (let i = 0; i < s.t.length; i++) {
            const p = s.phase[i];
            if (p == null || p % 2 === 0) continue;
            const x0 = u.valToPos(s.t[i] - s.span[i], "x", true), x1 = u.valToPos(s.t[i], "x", true);
            ctx.fillStyle = "rgba(148,103,189,0.08)";
            ctx.fillRect(x0, top, x1 - x0, h);
          }
          if (withSpikes) {
            for (const sp of view.spikes) {
              const a = u.valToPos(sp.spike_start_seconds, "x", true);
              const b = u.valToPos(sp.spike_start_seconds + sp.spike_seconds, "x", true);
              ctx.fillStyle = "rgba(214,39,40,0.12)";
              ctx.fillRect(a, top, b - a, h);
              if (sp.recovery_seconds != null) {
                const c = u.valToPos(sp.spike_start_seconds + sp.spike_seconds + sp.recovery_seconds, "x", true);
                ctx.fillStyle = "rgba(255,127,14,0.15)";
                ctx.fillRect(b, top, c - b, h);
              }
            }
          }
          ctx.restore();
        }],
        draw: [(u) => {
          const ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
          ctx.save();
          ctx.setLineDash([4, 3]);
          for (const e of s.events) {
            const x = u.valToPos(e.t, "x", true);
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
            ctx.strokeStyle = EVENT_COLORS[e.kind] || "#333";
            ctx.beginPath();
            ctx.moveTo(x, top);
            ctx.lineTo(x, top + h);
            ctx.stroke();
          }
          ctx.restore();
        }],
      },
    };
  }

  const charts = {};
  function chart(id, title, parent, opts, data) {
    if (charts[id]) {
      charts[id].setData(data);
      return;
    }
    const box = $("div", { class: "chart", id: "chart-" + id }, $("h3", {}, title));
    parent.append(box);
    const width = Math.max(320, Math.min(560, (parent.clientWidth || 1100) / 2 - 24));
    const u = new uPlot(Object.assign({ width, height: 240, legend: { live: true } }, opts), data, box);
    charts[id] = u;
    selfcheck.charts[id] = { series: opts.series.slice(1).map((x) => x.stroke), points: data[0].length };
  }

  const xAxis = { values: (u, v) => v.map(dur) };
  function timeChart(view, id, title, parent, lines, opts) {
    const s = view.series;
    const series = [{ value: (u, v) => (v == null ? "" : dur(v)) }];
    const data = [s.t.slice()];
    lines.forEach((l, i) => {
      series.push({ label: l.label, stroke: l.color || COLORS[i % COLORS.length], width: l.width || 1.5, dash: l.dash, scale: l.scale || "y", value: (u, v) => (v == null ? "–" : (l.fmt || num)(v)), spanGaps: false });
      data.push(l.values.slice());
    });
    if (view.base && view.base.series && opts && opts.base) {
      const b = view.base.series;
      // The base run's windows, resampled onto this run's x by nearest window end.
      for (const l of opts.base(view.base)) {
        const col = s.t.map((t) => {
          let best = null, d = Infinity;
          for (let j = 0; j < b.t.length; j++) {
            const x = Math.abs(b.t[j] - t);
            if (x < d) { d = x; best = l.values[j]; }
          }
          return d <= (s.step_seconds || 10) * 1.5 ? best : null;
        });
        series.push({ label: "base " + l.label, stroke: l.color, width: 1.5, dash: [6, 4], value: (u, v) => (v == null ? "–" : (l.fmt || num)(v)) });
        data.push(col);
      }
    }
    const yFmt = (opts && opts.yfmt) || ((u, v) => v.map((x) => (x == null ? "" : num(x, 2))));
    const axes = [xAxis, { values: yFmt, size: 70 }];
    const scales = { x: { time: false } };
    // Counts start at zero, a little below it so that a line of zeros is seen, not clipped.
    if (opts && opts.counts) scales.y = { range: (u, min, max) => [-0.05 * Math.max(1, max), Math.max(1, max) * 1.05] };
    if (opts && opts.y2) {
      axes.push({ scale: "y2", side: 1, grid: { show: false }, values: opts.y2fmt || ((u, v) => v.map((x) => (x == null ? "" : num(x, 2)))), size: 60 });
      scales.y2 = {};
    }
    chart(id, title, parent, { series, axes, scales, plugins: [bandsPlugin(view, opts && opts.spikes)] }, data);
  }

  const secs = (x) => (x == null ? "" : x < 1 ? `${+(x * 1e3).toPrecision(3)} ms` : `${+x.toPrecision(3)} s`);
  const msAxis = (u, v) => v.map(secs);
  function renderCharts(view, root) {
    const s = view.series;
    if (!s || s.t.length === 0) {
      if (!document.getElementById("no-series")) root.append($("p", { id: "no-series", class: "note" }, "No windows yet: the first closes 10 s after the start."));
      return;
    }
    const gone = document.getElementById("no-series");
    if (gone) gone.remove();
    const Q = [["TTFT", "ttft"], ["TPOT", "tpot"], ["ITL", "itl"], ["e2e", "e2e"]];
    const all0 = s.scopes[0];
    for (const [label, q] of Q) {
      const lines = [["p50", null, COLORS[0]], ["p90", [2, 2], COLORS[4]], ["p99", [8, 3], COLORS[1]]].map(([st, dash, color]) => ({ label: `${q} ${st}`, values: all0.quantiles[`${q}_${st}`], dash, color, fmt: ms }));
      const base = (b) => [{ label: `${q} p99`, values: b.series.scopes[0].quantiles[`${q}_p99`], color: COLORS[3], fmt: ms }];
      timeChart(view, "lat-" + q, `${label} p50 / p90 / p99 over time (all scenarios)`, root, lines, { yfmt: msAxis, spikes: q === "ttft", base });
    }
    const named = s.scopes.slice(1);
    if (named.length > 1) {
      for (const [label, q] of [["TTFT", "ttft"], ["TPOT", "tpot"]]) {
        timeChart(view, "by-scenario-" + q, `${label} p99 by scenario`, root, named.map((sc, i) => ({ label: sc.name, values: sc.quantiles[`${q}_p99`], color: COLORS[i % COLORS.length], fmt: ms })), { yfmt: msAxis });
      }
    }
    timeChart(view, "tpot-defs", "Time per output token: llm-soak TPOT vs LLMPerf (e2e / tokens), p50", root, [
      { label: "TPOT p50 (first token excluded)", values: s.scopes[0].quantiles.tpot_p50, fmt: ms },
      { label: "e2e/token p50 (LLMPerf)", values: s.scopes[0].quantiles.e2e_per_token_p50, fmt: ms },
    ], { yfmt: msAxis });
    const all = s.scopes[0];
    timeChart(view, "throughput", "Throughput: requests/s (left), output tokens/s (right)", root, [
      { label: "offered", values: s.offered_rate, dash: [4, 4], color: "#7f7f7f" },
      { label: "started/s", values: all.request_rate },
      { label: "succeeded/s", values: all.success_rate },
      { label: "output tokens/s", values: all.output_tokens_per_second, scale: "y2", color: "#ff7f0e" },
    ], { y2: true });
    const errLines = [{ label: "failed/s", values: all.failure_rate, color: "#d62728", width: 2 }];
    Object.entries(all.errors).forEach(([k, vals], i) => errLines.push({ label: k, values: vals, color: COLORS[(i + 2) % COLORS.length] }));
    errLines.push({ label: "dropped/s", values: s.drop_rate, color: "#7f7f7f", dash: [4, 4] });
    timeChart(view, "errors", "Failures by type and drops (per second)", root, errLines, { counts: true });
    timeChart(view, "concurrency", "Concurrency: requests in flight (highest in each window)", root, [{ label: "in flight", values: s.in_flight, fmt: (v) => num(v, 0) }]);
    timeChart(view, "client", "Client health: schedule lag p99 (left), daemon CPU cores (right)", root, [
      { label: "schedule lag p99", values: all.quantiles.schedule_lag_p99, fmt: ms },
      { label: "CPU cores", values: s.client_cpu_cores, scale: "y2", color: "#2ca02c" },
    ], { yfmt: msAxis, y2: true });
    const mib = (u, v) => v.map((x) => (x == null ? "" : (x / 1048576).toFixed(1) + " MiB"));
    timeChart(view, "memory", "Memory: daemon RSS, target RSS, GPU memory used", root, [
      { label: "daemon RSS", values: s.client_rss_bytes, fmt: bytes },
      { label: "target RSS", values: s.target_rss_bytes, fmt: bytes },
      { label: "GPU memory", values: s.gpu_memory_bytes, fmt: bytes },
    ], { yfmt: mib });
    const urls = [...new Set(Object.keys(s.server || {}).map((k) => k.slice(k.indexOf("@") + 1)))];
    urls.forEach((url, i) => {
      const col = (stat) => (s.server || {})[`${stat}@${url}`];
      const q = col("ttft_p50") ? "ttft" : "e2e";
      if (col(q + "_p50")) {
        timeChart(view, "server-lat-" + i, `Client vs server ${q === "ttft" ? "TTFT" : "e2e"} p50 (${url}; the server's interpolated within its buckets)`, root, [
          { label: `client ${q} p50`, values: all.quantiles[`${q}_p50`], fmt: ms },
          { label: `server ${q} p50`, values: col(q + "_p50"), color: COLORS[1], fmt: ms },
          { label: "server queue mean", values: col("queue_mean") || s.t.map(() => null), color: COLORS[4], dash: [4, 4], fmt: ms },
        ], { yfmt: msAxis });
      }
      const load = [];
      if (col("waiting_max")) load.push({ label: "waiting (max)", values: col("waiting_max"), fmt: (v) => num(v, 0) });
      if (col("preemptions")) load.push({ label: "preemptions/s", values: col("preemptions"), color: COLORS[1] });
      if (col("kv_usage")) load.push({ label: "KV usage", values: col("kv_usage").map((x) => (x == null ? null : x * 100)), scale: "y2", color: "#ff7f0e", fmt: (v) => num(v, 1) + " %" });
      if (load.length) timeChart(view, "server-load-" + i, `Engine load (${url}): waiting requests, preemptions/s, KV-cache usage % (right)`, root, load, { y2: load.some((l) => l.scale === "y2") });
    });
    if (s.gpu_utilization.some((x) => x != null)) {
      timeChart(view, "gpu", "GPU utilisation (%)", root, [{ label: "GPU util", values: s.gpu_utilization }]);
    }
  }

  function renderDistributions(view, root) {
    if (!view.distributions.length) return;
    const show = view.distributions.filter((d) => ["ttft", "tpot", "itl", "e2e"].includes(d.quantity));
    for (const d of show) {
      const id = `dist-${d.scope}-${d.quantity}`;
      const mids = d.edges.slice(0, -1).map((e, i) => Math.sqrt(e * d.edges[i + 1]));
      chart(id + "-h", `${d.scope} ${d.label}: histogram (${d.samples} samples)`, root, {
        series: [{ value: (u, v) => ms(v) }, { label: "share", stroke: COLORS[0], fill: "rgba(31,119,180,0.3)", paths: uPlot.paths.bars({ size: [0.9, 40] }), value: (u, v) => pct(v) }],
        scales: { x: { time: false, distr: 3 } },
        axes: [{ values: msAxis }, { values: (u, v) => v.map((x) => (x * 100).toFixed(0) + "%") }],
      }, [mids, d.shares]);
      chart(id + "-c", `${d.scope} ${d.label}: CDF`, root, {
        series: [{ value: (u, v) => ms(v) }, { label: "fraction ≤", stroke: COLORS[1], width: 2, value: (u, v) => (v == null ? "" : (v * 100).toFixed(2) + "%") }],
        scales: { x: { time: false, distr: 3 }, y: { range: [0, 1] } },
        axes: [{ values: msAxis }, { values: (u, v) => v.map((x) => (x * 100).toFixed(0) + "%") }],
      }, [d.cdf_value, d.cdf_fraction]);
    }
  }

  function scopeTables(list) {
    const out = $("div");
    for (const sc of list) {
      out.append($("h3", {}, sc.name));
      const head = ["requests", "succeeded", "failed", "cancelled", "aborted", "error rate", "req/s", "output tok/s", "errors by type"];
      const row = [sc.started, sc.succeeded, sc.failed, sc.cancelled, sc.aborted, pct(sc.error_rate), num(sc.achieved_rate), num(sc.output_tokens_per_second, 1), Object.entries(sc.error_types).map(([k, v]) => `${k}: ${v}`).join(", ") || "–"];
      if (sc.slo) {
        head.push("SLO met", "attainment", "goodput/s");
        row.push(`${sc.slo.met} / ${sc.slo.judged}`, pct(sc.slo.attainment), num(sc.slo.goodput));
      }
      out.append(table(head, [row]));
      out.append(table(["latency", "samples", "mean", "p50", "p90", "p95", "p99", "max"],
        sc.latency.map((r) => [r.label, r.samples, ms(r.mean), ms(r.p50), ms(r.p90), ms(r.p95), ms(r.p99), ms(r.max)])));
    }
    return out;
  }

  function section(id, title, ...kids) {
    let s = document.getElementById(id);
    if (!s) {
      s = $("section", { id }, $("h2", {}, title), $("div", { class: "body" }));
      document.getElementById("main").append(s);
    }
    const body = s.querySelector(".body");
    if (kids.length) body.replaceChildren(...kids);
    return body;
  }

  // One engine's block: its latencies (approximate quantiles with their bucket), the gap to the
  // client's, its load and the token cross-check.
  function serverBlock(b) {
    const r = b.run;
    const approx = (a) => (a == null ? "–" : `${ms(a.value)} (${ms(a.lower)}, ${a.upper == null ? "∞" : ms(a.upper)}]`);
    const rows = Object.entries(r.latency).map(([k, d]) => [k, num(d.count, 0), ms(d.mean), approx(d.p50), approx(d.p90), approx(d.p99)]);
    const reading = (x, f) => (x == null ? "–" : `mean ${f(x.mean)}, max ${f(x.max)}`);
    const facts = [
      ["engine", b.engine ? `${b.engine} (${b.release})` : "unknown"],
      ["scrapes", `${b.scrapes} (${b.failed_scrapes} failed${b.last_error ? ": " + b.last_error : ""})`],
      ["client − server TTFT / e2e (means)", `${b.client.ttft_gap == null ? "–" : ms(b.client.ttft_gap)} / ${b.client.e2e_gap == null ? "–" : ms(b.client.e2e_gap)}`],
      ["running", reading(r.running, (v) => num(v, 1))],
      ["waiting", reading(r.waiting, (v) => num(v, 1))],
      ["KV usage", reading(r.kv_usage, pct)],
      ["preemptions", r.preemptions == null ? "–" : num(r.preemptions, 0)],
      ["prefix-cache hit rate", r.prefix_hit_rate == null ? "–" : pct(r.prefix_hit_rate)],
      ["tokens (llm-soak / engine)", `${b.tokens.client} / ${b.tokens.server == null ? "–" : num(b.tokens.server, 0)}: ${b.tokens.note}`],
    ];
    if (r.prefill_seconds_per_token != null) facts.push(["per token, derived (prefill / decode)", `${ms(r.prefill_seconds_per_token)} / ${ms(r.decode_seconds_per_token)}`]);
    if (r.resets) facts.push(["counter resets (engine restarts)", String(r.resets)]);
    if (b.missing && b.missing.length) facts.push(["not exported by this engine", b.missing.join(", ")]);
    const phases = (b.phases || []).map((p) => [p.index, p.summary.latency.ttft ? ms(p.summary.latency.ttft.mean) : "–", reading(p.summary.waiting, (v) => num(v, 1)), reading(p.summary.kv_usage, pct), p.summary.preemptions == null ? "–" : num(p.summary.preemptions, 0)]);
    return $("div", { class: "server" },
      $("h3", {}, `${b.target} — ${b.url}`),
      table(["", ""], facts),
      rows.length ? table(["server-timed", "n", "mean", "p50 (bucket]", "p90 (bucket]", "p99 (bucket]"], rows) : $("p", { class: "note" }, "This engine exports no latency histograms."),
      phases.length ? table(["phase", "TTFT mean", "waiting", "KV usage", "preemptions"], phases) : "");
  }

  function render(view) {
    document.title = view.title;
    const r = view.run;
    const state = view.live ? view.live.state : r.complete ? (r.interrupted ? "interrupted" : "complete") : "checkpoint";
    const s = view.series;
    const lastPhase = s && s.phase.length ? s.phase[s.phase.length - 1] : null;
    const phaseText = lastPhase == null ? "" : ` · phase ${lastPhase}${view.phases[lastPhase] ? " (" + view.phases[lastPhase].name.replace(/^\d+ /, "") + ")" : ""}`;
    const header = document.getElementById("header");
    header.replaceChildren(
      $("h1", {}, view.title),
      $("div", { class: "meta" },
        $("span", { class: "state " + state }, state), " ", badge(r.verdict),
        ` elapsed ${dur(r.elapsed_seconds)}${phaseText} · measured ${r.measured_seconds == null ? "–" : dur(r.measured_seconds)} · ${view.requests.started} requests started, ${view.requests.finished.success} succeeded, ${view.requests.finished.error + view.requests.finished.timeout} failed, ${view.requests.dropped} dropped · llm-soak ${r.version}`,
        r.epoch_unix ? ` · started ${new Date(r.epoch_unix * 1000).toISOString()}` : ""));
    const gates = view.gates.length
      ? table(["gate", "verdict", "measured", "threshold", "baseline", "samples", "note"], view.gates.map((g) => [g.gate, badge(g.verdict), num(g.measured, 4), num(g.threshold, 4), num(g.baseline, 4), `${g.samples} / ${g.min_samples}`, g.note || ""]))
      : $("p", { class: "note" }, "No gates on this run.");
    const trust = view.trust
      ? $("p", {}, `Client self-check: ${view.trust.verdict.replace("_", " ")}; timestamps late by at most ${ms(view.trust.bound_p99)} at p99; CPU ${num(view.trust.cpu_cores_used)} of ${num(view.trust.cpu_cores_available, 0)} cores. `, view.trust.reasons.join(" "))
      : $("p", { class: "note" }, "No client self-check.");
    section("verdicts", "Gates and trust", gates, trust);
    if (view.phase_verdicts.length || view.steady_first_last) {
      const label = { pass: "PASS", breach: "FAIL", insufficient: "SKIP" };
      const parts = [];
      if (view.phase_verdicts.length) {
        parts.push(table(["phase", "kind", "verdict", "why"], view.phase_verdicts.map((p) => [String(p.index), p.kind, $("span", { class: "badge " + p.verdict }, label[p.verdict] || p.verdict), p.reasons.join("; ") || "–"])));
      }
      const fl = view.steady_first_last;
      if (fl) {
        const fmt = (m, v) => (v == null ? "–" : m === "error_rate" ? pct(v) : ms(v));
        parts.push($("p", {}, `Last steady phase (${fl.last}) against the first (${fl.first}): ${fl.verdict.replace("_", " ")}`));
        parts.push(table(["metric", "first", "last", "change", "samples", "verdict"], fl.rows.map((r) => [r.metric, fmt(r.metric, r.base), fmt(r.metric, r.new), r.relative == null ? "–" : (r.relative * 100).toFixed(1) + " %", `${r.base_samples} / ${r.new_samples}`, $("span", { class: "badge " + (r.verdict === "regression" ? "breach" : r.verdict === "improved" ? "pass" : r.verdict === "insufficient" ? "insufficient" : "none") }, r.verdict.replace("_", " "))])));
      }
      section("phase-verdicts", "Phase verdicts", ...parts);
    }
    if (view.comparison) {
      const c = view.comparison;
      const fmt = (m, v) => (v == null ? "–" : m === "error_rate" ? pct(v) : ms(v));
      const iv = (r) => (r.interval == null ? "–" : r.metric === "error_rate" ? `[${(r.interval[0] * 100).toFixed(2)}, ${(r.interval[1] * 100).toFixed(2)}] pt` : r.limit.endsWith("%") ? `[${(r.interval[0] * 100).toFixed(1)}%, ${(r.interval[1] * 100).toFixed(1)}%]` : `[${ms(r.interval[0])}, ${ms(r.interval[1])}]`);
      const unjudged = c.not_judged.length ? `; not judged for want of samples: ${c.not_judged.join(", ")}` : "";
      section("comparison", `Compare: ${c.verdict.replace("_", " ")} (base ${c.base} → new ${c.new}; base dashed on the charts${unjudged})`,
        table(["scope", "metric", "base", "new", "change", "95% interval", "limit", "samples", "verdict"],
          c.rows.map((r) => [r.scope, r.metric, fmt(r.metric, r.base), fmt(r.metric, r.new), r.relative == null ? "–" : (r.relative * 100).toFixed(1) + " %", iv(r), r.limit, `${r.base_samples} / ${r.new_samples}`, $("span", { class: "badge " + (r.verdict === "regression" ? "breach" : r.verdict === "improved" ? "pass" : r.verdict === "insufficient" ? "insufficient" : "none") }, r.verdict.replace("_", " "))])));
    }
    renderCharts(view, section("charts", "Over time (phase bands shaded, spike in red, its recovery in orange, events dashed)"));
    if (view.series && view.series.events.length) {
      section("events", "Events", table(["at", "event", "detail"], view.series.events.map((e) => [dur(e.t), e.kind.replace("_", " "), e.detail])));
    }
    section("summary", "Summary (warm-up excluded)", scopeTables(view.scopes));
    if (view.server.length) section("server", "Server side (the engine's own /metrics, scraped once a window)", ...view.server.map(serverBlock));
    renderDistributions(view, section("distributions", "Distributions (exact histograms)"));
    if (view.phases.length) section("phases", "Per phase", scopeTables(view.phases));
    if (view.disruptions.length) {
      section("disruptions", "Recovery from restarts and hooks", table(["what", "at", "first success after", "TTFT p95 before", "recovered", "back within tolerance after"],
        view.disruptions.map((d) => [d.cause, dur(d.at_seconds), d.first_success_seconds == null ? "–" : dur(d.first_success_seconds), ms(d.before.ttft_p95), d.recovered ? "yes" : "no", d.recovery_seconds == null ? (d.note || "–") : dur(d.recovery_seconds)])));
    }
    if (view.spikes.length) {
      section("spikes", "Spike recovery", table(["phase", "pass", "start", "length", "TTFT p95 before", "during", "recovered", "recovery"],
        view.spikes.map((s) => [s.phase, s.pass, dur(s.spike_start_seconds), dur(s.spike_seconds), ms(s.pre_spike.ttft_p95), ms(s.during_spike.ttft_p95), s.recovered ? "yes" : "no", s.recovery_seconds == null ? (s.note || "–") : dur(s.recovery_seconds)])));
    }
    if (view.first_last) {
      const f = view.first_last;
      section("first-last", `First part (${dur(f.first[0])}–${dur(f.first[1])}) vs last part (${dur(f.last[0])}–${dur(f.last[1])})`,
        table(["scope", "latency", "first p50", "last p50", "change", "first p99", "last p99", "change", "samples"],
          f.rows.filter((x) => x.quantity !== "schedule_lag").map((x) => [x.scope, x.quantity, ms(x.first_p50), ms(x.last_p50), pct(x.change_p50), ms(x.first_p99), ms(x.last_p99), pct(x.change_p99), `${x.first_samples} / ${x.last_samples}`])),
        $("p", {}, `Daemon RSS ${bytes(f.client_rss_bytes[0])} → ${bytes(f.client_rss_bytes[1])}; target RSS ${bytes(f.target_rss_bytes[0])} → ${bytes(f.target_rss_bytes[1])}.`));
    }
    if (view.drift.length) {
      section("drift", "Drift vs baseline (the baseline measured after the warm-up; the last part of the run)",
        table(["scenario", "latency", "baseline p50", "baseline mean", "last part p50", "change"],
          view.drift.map((d) => [d.scenario, d.quantity, ms(d.baseline_p50), ms(d.baseline_mean), ms(d.last_p50), pct(d.change)])));
    }
    if (view.config) section("config", "Config (secrets redacted)", $("pre", {}, JSON.stringify(view.config, null, 2)));
    selfcheck.rendered += 1;
    // uPlot draws on the next frame: check the canvases after it.
    setTimeout(() => {
      selfcheck.drawn = drawn();
      const out = document.getElementById("selfcheck");
      if (out) out.textContent = JSON.stringify(selfcheck);
    }, 100);
  }

  // Which charts have one of their series' colours on the canvas (drawn with data, not just
  // axes and grid, which are grey and translucent).
  function drawn() {
    const ok = [];
    for (const [id, u] of Object.entries(charts)) {
      const want = selfcheck.charts[id].series
        .map((s) => (s || "").match(/^#(..)(..)(..)$/))
        .filter((m) => m && !(m[1] === m[2] && m[2] === m[3]))
        .map((m) => m.slice(1).map((h) => parseInt(h, 16)));
      const c = u.ctx.getImageData(0, 0, u.ctx.canvas.width, u.ctx.canvas.height).data;
      let hits = 0;
      for (let i = 0; i < c.length; i += 4) {
        if (c[i + 3] > 200 && want.some(([r, g, b]) => Math.abs(c[i] - r) < 24 && Math.abs(c[i + 1] - g) < 24 && Math.abs(c[i + 2] - b) < 24)) hits++;
      }
      if (hits > 10) ok.push(id);
    }
    return ok;
  }

  // Live mode: new windows are appended to the columns; everything else is replaced.
  function append(old, add) {
    const o = old.series, a = add.series;
    if (!o || !a) return add;
    const cat = (x, y) => { for (const k of Object.keys(y)) if (Array.isArray(y[k]) && Array.isArray(x[k]) && k !== "events" && k !== "scopes") x[k] = x[k].concat(y[k]); };
    const before = o.t.length;
    cat(o, a);
    o.server = o.server || {};
    for (const k of Object.keys(a.server || {})) o.server[k] = (o.server[k] || new Array(before).fill(null)).concat(a.server[k]);
    for (const k of Object.keys(o.server)) if (!(k in (a.server || {}))) o.server[k] = o.server[k].concat(new Array(a.t.length).fill(null));
    o.events = a.events;
    a.scopes.forEach((sc, i) => {
      const os = o.scopes[i];
      if (!os) { o.scopes.push(sc); return; }
      cat(os, sc);
      for (const m of ["quantiles", "errors"]) {
        for (const k of Object.keys(sc[m])) os[m][k] = (os[m][k] || new Array(o.t.length - sc[m][k].length).fill(m === "errors" ? 0 : null)).concat(sc[m][k]);
        for (const k of Object.keys(os[m])) if (!(k in sc[m])) os[m][k] = os[m][k].concat(new Array(a.t.length).fill(m === "errors" ? 0 : null));
      }
    });
    add.series = o;
    return add;
  }

  async function live() {
    let view = null;
    const poll = async () => {
      try {
        const since = view && view.series && view.series.t.length ? view.series.t[view.series.t.length - 1] : 0;
        const res = await fetch("api/v1/view" + (since ? "?since=" + since : ""), { cache: "no-store" });
        if (!res.ok) throw new Error(res.status + " " + (await res.text()));
        const v = await res.json();
        view = view ? append(view, v) : v;
        render(view);
        document.getElementById("offline").textContent = "";
      } catch (e) {
        document.getElementById("offline").textContent = "The daemon did not answer (" + e.message + "); showing the last data.";
      }
    };
    await poll();
    setInterval(poll, 5000);
  }

  const embedded = document.getElementById("view");
  const data = embedded ? JSON.parse(embedded.textContent) : null;
  if (data) render(data); else live();
})();
