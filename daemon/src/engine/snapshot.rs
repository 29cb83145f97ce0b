//! One scrape in the vocabulary: each mapped histogram's buckets, each gauge and counter —
//! summed over the engine's label sets (ranks, engines of a data-parallel server, models),
//! except a usage fraction, which is averaged — and which words the scrape lacked.

use std::collections::{BTreeMap, BTreeSet};

use super::exposition::{Read, Sample};
use super::map::Map;
use super::{Counter, Gauge, Hist};

/// A cumulative histogram: counts at each upper bound (ascending, `+Inf` last), sum and count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Buckets {
    pub bounds: Vec<f64>,
    pub cumulative: Vec<f64>,
    pub sum: f64,
    pub count: f64,
}

/// One scrape, reduced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub hists: BTreeMap<Hist, Buckets>,
    pub gauges: BTreeMap<Gauge, f64>,
    pub counters: BTreeMap<Counter, f64>,
    /// `requests` by finish reason, where the engine labels it.
    pub reasons: BTreeMap<String, f64>,
    /// Series kept (label sets of the mapped names).
    pub series: usize,
    /// Vocabulary words the table names that this scrape did not have.
    pub missing: BTreeSet<&'static str>,
    /// The engine's families no table maps.
    pub unmapped: BTreeSet<String>,
}

/// The first of `names` that `read` has samples of (with `suffix`).
fn present<'n>(read: &Read, names: &'n [String], suffix: &str) -> Option<&'n str> {
    names
        .iter()
        .find(|n| {
            read.samples
                .iter()
                .any(|s| s.name.strip_suffix(suffix) == Some(n.as_str()))
        })
        .map(String::as_str)
}

fn of<'r>(read: &'r Read, name: &'r str) -> impl Iterator<Item = &'r Sample> + 'r {
    read.samples.iter().filter(move |s| s.name == name)
}

fn le(s: &Sample) -> Option<f64> {
    match s.label("le")? {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        v => v.parse().ok(),
    }
}

fn buckets(read: &Read, name: &str) -> Buckets {
    // Cumulative counts at each bound, summed over the label sets.
    let mut at: Vec<(f64, f64)> = Vec::new();
    for s in of(read, &format!("{name}_bucket")) {
        let Some(bound) = le(s) else { continue };
        match at.iter_mut().find(|(b, _)| *b == bound) {
            Some((_, c)) => *c += s.value,
            None => at.push((bound, s.value)),
        }
    }
    at.sort_by(|a, b| a.0.total_cmp(&b.0));
    let sum = of(read, &format!("{name}_sum")).map(|s| s.value).sum();
    let count = of(read, &format!("{name}_count"))
        .map(|s| s.value)
        .sum::<f64>();
    let count = if count > 0.0 {
        count
    } else {
        at.last().map_or(0.0, |(_, c)| *c)
    };
    Buckets {
        bounds: at.iter().map(|(b, _)| *b).collect(),
        cumulative: at.iter().map(|(_, c)| *c).collect(),
        sum,
        count,
    }
}

impl Snapshot {
    /// The scrape `read`, in the words of `map`.
    pub fn new(read: &Read, map: &Map) -> Snapshot {
        let mut s = Snapshot::default();
        for (h, names) in &map.histograms {
            match present(read, names, "_bucket") {
                Some(n) => {
                    s.hists.insert(*h, buckets(read, n));
                }
                None => {
                    s.missing.insert(h.as_str());
                }
            }
        }
        for (g, names) in &map.gauges {
            let Some(n) = present(read, names, "") else {
                s.missing.insert(g.as_str());
                continue;
            };
            let values: Vec<f64> = of(read, n).map(|x| x.value).collect();
            let total: f64 = values.iter().sum();
            let v = if g.summed() {
                total
            } else {
                total / values.len().max(1) as f64
            };
            s.gauges.insert(*g, v);
        }
        for (c, names) in &map.counters {
            let Some(n) = present(read, names, "") else {
                s.missing.insert(c.as_str());
                continue;
            };
            s.counters.insert(*c, of(read, n).map(|x| x.value).sum());
            if *c == Counter::Requests
                && let Some(label) = &map.reason_label
            {
                for x in of(read, n) {
                    let reason = x.label(label).unwrap_or("unknown").to_string();
                    *s.reasons.entry(reason).or_default() += x.value;
                }
            }
        }
        for (c, names) in &map.histogram_sums {
            match present(read, names, "_sum") {
                Some(n) => {
                    let total = of(read, &format!("{n}_sum")).map(|x| x.value).sum();
                    s.counters.insert(*c, total);
                }
                None => {
                    s.missing.insert(c.as_str());
                }
            }
        }
        s.series = read.samples.len();
        let mapped: BTreeSet<&str> = map
            .histograms
            .values()
            .chain(map.gauges.values())
            .chain(map.counters.values())
            .chain(map.histogram_sums.values())
            .flatten()
            .map(String::as_str)
            .collect();
        s.unmapped = read
            .families
            .iter()
            .filter(|f| !mapped.contains(f.as_str()))
            .cloned()
            .collect();
        s
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::engine::exposition::read;

    #[test]
    fn ranks_add_up_usage_averages_and_older_names_are_used_when_current_ones_are_absent() {
        let text = "\
vllm:num_requests_running{engine=\"0\"} 3
vllm:num_requests_running{engine=\"1\"} 2
vllm:gpu_cache_usage_perc{engine=\"0\"} 0.2
vllm:gpu_cache_usage_perc{engine=\"1\"} 0.4
vllm:request_success_total{finished_reason=\"stop\"} 7
vllm:request_success_total{finished_reason=\"length\"} 3
vllm:e2e_request_latency_seconds_bucket{engine=\"0\",le=\"1.0\"} 2
vllm:e2e_request_latency_seconds_bucket{engine=\"1\",le=\"1.0\"} 1
vllm:e2e_request_latency_seconds_bucket{engine=\"0\",le=\"+Inf\"} 4
vllm:e2e_request_latency_seconds_bucket{engine=\"1\",le=\"+Inf\"} 2
vllm:e2e_request_latency_seconds_sum{engine=\"0\"} 3.5
vllm:e2e_request_latency_seconds_count{engine=\"0\"} 4
vllm:e2e_request_latency_seconds_count{engine=\"1\"} 2
vllm:something_new 1
";
        let map = Map::named("vllm").unwrap();
        let wanted: HashSet<String> = map.sample_names().collect();
        let s = Snapshot::new(&read(text, &wanted, &map.prefix), map);
        assert_eq!(s.gauges[&Gauge::Running], 5.0);
        assert!((s.gauges[&Gauge::KvUsage] - 0.3).abs() < 1e-12);
        assert_eq!(s.counters[&Counter::Requests], 10.0);
        assert_eq!(s.reasons["length"], 3.0);
        let e2e = &s.hists[&Hist::E2e];
        assert_eq!(e2e.bounds, [1.0, f64::INFINITY]);
        assert_eq!(e2e.cumulative, [3.0, 6.0]);
        assert_eq!(e2e.count, 6.0);
        assert!(s.missing.contains("ttft"));
        assert!(s.unmapped.contains("vllm:something_new"));
    }
}
