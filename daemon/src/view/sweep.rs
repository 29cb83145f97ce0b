//! The sweep's page: a self-contained HTML file with the capacity curve drawn server-side as
//! SVG — attainment (with its 95 % interval) against the offered rate beside the target, the
//! achieved against the offered rate, TTFT p50/p99 against the offered rate — and the ladder and
//! step tables. A sweep has tens of points, not thousands: static SVG needs no script and prints.

use std::fmt::Write;

use crate::report::sweep::{StepVerdict, SweepReport, SweepStep};

const W: f64 = 560.0;
const H: f64 = 260.0;
const PAD_L: f64 = 56.0;
const PAD_B: f64 = 36.0;
const PAD_T: f64 = 14.0;
const PAD_R: f64 = 14.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One chart's axes: x from 0 to `xmax`, y from 0 to `ymax`.
struct Axes {
    xmax: f64,
    ymax: f64,
}

impl Axes {
    fn x(&self, v: f64) -> f64 {
        PAD_L + v / self.xmax * (W - PAD_L - PAD_R)
    }
    fn y(&self, v: f64) -> f64 {
        H - PAD_B - v / self.ymax * (H - PAD_B - PAD_T)
    }

    /// The frame, ticks and labels.
    fn frame(&self, o: &mut String, xlabel: &str, ylabel: &str, yfmt: impl Fn(f64) -> String) {
        let _ = write!(
            o,
            r##"<rect x="{PAD_L}" y="{PAD_T}" width="{}" height="{}" fill="none" stroke="#999"/>"##,
            W - PAD_L - PAD_R,
            H - PAD_B - PAD_T
        );
        for i in 0..=4 {
            let (xv, yv) = (self.xmax * i as f64 / 4.0, self.ymax * i as f64 / 4.0);
            let _ = write!(
                o,
                r##"<text x="{:.1}" y="{:.1}" class="tick" text-anchor="middle">{xv:.1}</text><text x="{:.1}" y="{:.1}" class="tick" text-anchor="end">{}</text><line x1="{PAD_L}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#eee"/>"##,
                self.x(xv),
                H - PAD_B + 14.0,
                PAD_L - 4.0,
                self.y(yv) + 4.0,
                yfmt(yv),
                W - PAD_R,
                self.y(yv),
                self.y(yv)
            );
        }
        let _ = write!(
            o,
            r##"<text x="{:.1}" y="{:.1}" class="label" text-anchor="middle">{}</text><text x="12" y="{:.1}" class="label" transform="rotate(-90 12 {:.1})" text-anchor="middle">{}</text>"##,
            (W + PAD_L) / 2.0,
            H - 4.0,
            esc(xlabel),
            H / 2.0,
            H / 2.0,
            esc(ylabel)
        );
    }

    fn line(&self, o: &mut String, pts: &[(f64, f64)], color: &str, dash: bool) {
        let d: Vec<String> = pts
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", self.x(*x), self.y(*y)))
            .collect();
        let _ = write!(
            o,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{}/>"#,
            d.join(" "),
            if dash {
                r#" stroke-dasharray="5 4""#
            } else {
                ""
            }
        );
    }

    fn dots(&self, o: &mut String, steps: &[&SweepStep], y: impl Fn(&SweepStep) -> Option<f64>) {
        for s in steps {
            let Some(v) = y(s) else { continue };
            let color = if s.pass { "#1a7f37" } else { "#cf222e" };
            let _ = write!(
                o,
                r#"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{color}"><title>{:.2} req/s: {}</title></circle>"#,
                self.x(s.offered_rate),
                self.y(v),
                s.offered_rate,
                if s.pass {
                    "pass".to_string()
                } else {
                    esc(&s.failed.join("; "))
                }
            );
        }
    }
}

fn chart(title: &str, body: &str) -> String {
    format!(
        r#"<figure><figcaption>{}</figcaption><svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img">{body}</svg></figure>"#,
        esc(title)
    )
}

/// The whole page.
pub fn page(r: &SweepReport) -> String {
    let mut steps: Vec<&SweepStep> = r.steps.iter().collect();
    steps.sort_by(|a, b| a.offered_rate.total_cmp(&b.offered_rate));
    let xmax = steps.iter().map(|s| s.offered_rate).fold(1e-9, f64::max) * 1.1;
    let capacity = |o: &mut String, a: &Axes| {
        if let Some(c) = r.result.capacity {
            // The label on whichever side of the line has room.
            let (dx, anchor) = if a.x(c) > W - 140.0 {
                (-4.0, "end")
            } else {
                (4.0, "start")
            };
            let _ = write!(
                o,
                r##"<line x1="{x:.1}" x2="{x:.1}" y1="{PAD_T}" y2="{:.1}" stroke="#0969da" stroke-dasharray="3 3"/><text x="{:.1}" y="{:.1}" class="tick" fill="#0969da" text-anchor="{anchor}">capacity {c:.2}</text>"##,
                H - PAD_B,
                a.x(c) + dx,
                H - PAD_B - 8.0,
                x = a.x(c)
            );
        }
    };
    // Attainment with its interval, and the target.
    let a = Axes { xmax, ymax: 1.0 };
    let mut att = String::new();
    a.frame(&mut att, "offered rate (req/s)", "attainment", |v| {
        format!("{:.0}%", v * 100.0)
    });
    let target = r.criteria.attainment;
    a.line(&mut att, &[(0.0, target), (xmax, target)], "#888", true);
    for s in &steps {
        if let (Some(lo), Some(hi)) = (s.attainment_low, s.attainment_high) {
            let _ = write!(
                att,
                r##"<line x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}" stroke="#555"/>"##,
                a.y(lo),
                a.y(hi),
                x = a.x(s.offered_rate)
            );
        }
    }
    a.dots(&mut att, &steps, |s| s.attainment);
    capacity(&mut att, &a);
    // Achieved against offered.
    let ymax = steps
        .iter()
        .map(|s| s.achieved_rate.max(s.offered_rate))
        .fold(1e-9, f64::max)
        * 1.1;
    let b = Axes { xmax, ymax };
    let mut ach = String::new();
    b.frame(&mut ach, "offered rate (req/s)", "achieved (req/s)", |v| {
        format!("{v:.1}")
    });
    b.line(&mut ach, &[(0.0, 0.0), (xmax, xmax)], "#888", true);
    let pts: Vec<(f64, f64)> = steps
        .iter()
        .map(|s| (s.offered_rate, s.achieved_rate))
        .collect();
    b.line(&mut ach, &pts, "#0969da", false);
    b.dots(&mut ach, &steps, |s| Some(s.achieved_rate));
    capacity(&mut ach, &b);
    // TTFT quantiles.
    let tmax = steps.iter().filter_map(|s| s.ttft.p99).fold(1e-6, f64::max) * 1.1;
    let c = Axes { xmax, ymax: tmax };
    let mut ttft = String::new();
    c.frame(&mut ttft, "offered rate (req/s)", "TTFT (ms)", |v| {
        format!("{:.0}", v * 1000.0)
    });
    for (q, color) in [(0usize, "#8250df"), (1, "#bf3989")] {
        let pts: Vec<(f64, f64)> = steps
            .iter()
            .filter_map(|s| {
                let v = if q == 0 { s.ttft.p50 } else { s.ttft.p99 };
                v.map(|v| (s.offered_rate, v))
            })
            .collect();
        c.line(&mut ttft, &pts, color, q == 0);
    }
    c.dots(&mut ttft, &steps, |s| s.ttft.p99);
    capacity(&mut ttft, &c);

    let mut o = String::new();
    let _ = write!(
        o,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>llm-soak sweep</title><style>
body{{font:14px system-ui,sans-serif;margin:24px;color:#1f2328}} h1{{font-size:20px}}
figure{{display:inline-block;margin:0 16px 16px 0}} figcaption{{font-weight:600;margin-bottom:4px}}
.tick{{font-size:11px;fill:#57606a}} .label{{font-size:12px;fill:#1f2328}}
table{{border-collapse:collapse;margin:8px 0 24px}} td,th{{border:1px solid #d0d7de;padding:3px 8px;text-align:right}}
th{{background:#f6f8fa}} td.l{{text-align:left}} .fail{{color:#cf222e}} .pass{{color:#1a7f37}} .undecided{{color:#9a6700}}
.result{{font-size:16px;padding:10px;background:#f6f8fa;border-left:4px solid #0969da}}
</style></head><body><h1>llm-soak sweep</h1><p class="result" id="result">{}</p>"#,
        esc(&result_line(r))
    );
    for n in &r.result.notes {
        let _ = write!(o, "<p>note: {}</p>", esc(n));
    }
    o.push_str(&chart(
        &format!(
            "Attainment (95 % interval) — target {:.1} %",
            target * 100.0
        ),
        &att,
    ));
    o.push_str(&chart("Achieved vs offered rate", &ach));
    o.push_str(&chart("TTFT p50 (dashed) and p99", &ttft));
    o.push_str("<h2>Ladder (closed loop)</h2><table><tr><th>users</th><th>req/s</th><th>mean e2e (ms)</th><th>N = X·R</th><th class=l>client</th></tr>");
    for l in &r.ladder {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{:.2}</td><td>{:.0}</td><td>{:.1}</td><td class=l>{}</td></tr>",
            l.users,
            l.throughput,
            l.mean_e2e * 1000.0,
            l.littles_users,
            esc(l.client_limited.as_deref().unwrap_or(""))
        );
    }
    o.push_str("</table><h2>Steps (open loop, Poisson)</h2><table id=steps><tr><th>offered</th><th>achieved</th><th>judged</th><th>attainment</th><th>95 % interval</th><th>errors</th><th>TTFT p99 (ms)</th><th>TPOT p99 (ms)</th><th>stopped</th><th class=l>verdict</th></tr>");
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.1}%", v * 100.0));
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.0}", v * 1000.0));
    for s in &steps {
        let _ = write!(
            o,
            "<tr><td>{:.2}</td><td>{:.2}</td><td>{}</td><td>{}</td><td>{} – {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l {}\">{}</td></tr>",
            s.offered_rate,
            s.achieved_rate,
            s.judged,
            pct(s.attainment),
            pct(s.attainment_low),
            pct(s.attainment_high),
            pct(s.error_rate),
            ms(s.ttft.p99),
            ms(s.tpot.p99),
            s.stopped.as_str(),
            match s.verdict() {
                StepVerdict::Pass => "pass",
                StepVerdict::Fail => "fail",
                StepVerdict::Undecided => "undecided",
            },
            esc(&s.verdict_line())
        );
    }
    o.push_str("</table></body></html>\n");
    o
}

fn result_line(r: &SweepReport) -> String {
    let line = r.result.line();
    // The page's sentence starts with a capital.
    let mut c = line.chars();
    c.next()
        .map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
}
