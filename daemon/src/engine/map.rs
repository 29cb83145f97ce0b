//! The mapping tables: for each engine, which of its series is which word of the vocabulary.
//! They are data (`maps/*.toml`, compiled in), one per engine, each saying the releases it was
//! read from; where an engine renamed a series the current name comes first and the older ones
//! after, and the first name a scrape has is the one used.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;

use super::{Counter, Gauge, Hist};

/// One engine's names.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Map {
    /// The engine, as `provider` names it (`vllm`, `sglang`, `llama.cpp`, `tgi`).
    pub engine: String,
    /// The releases the names were read from.
    pub release: String,
    /// What every one of its series starts with (to recognise it, and its unmapped series).
    pub prefix: String,
    /// The label of `requests` that carries the finish reason, if it has one.
    #[serde(default)]
    pub reason_label: Option<String>,
    #[serde(default)]
    pub histograms: BTreeMap<Hist, Vec<String>>,
    #[serde(default)]
    pub gauges: BTreeMap<Gauge, Vec<String>>,
    #[serde(default)]
    pub counters: BTreeMap<Counter, Vec<String>>,
    /// Counters an engine keeps only as a histogram's `_sum` (TGI's token counts).
    #[serde(default)]
    pub histogram_sums: BTreeMap<Counter, Vec<String>>,
}

const SOURCES: [(&str, &str); 4] = [
    ("vllm.toml", include_str!("maps/vllm.toml")),
    ("sglang.toml", include_str!("maps/sglang.toml")),
    ("llamacpp.toml", include_str!("maps/llamacpp.toml")),
    ("tgi.toml", include_str!("maps/tgi.toml")),
];

static MAPS: LazyLock<Vec<Map>> = LazyLock::new(|| {
    SOURCES
        .iter()
        .filter_map(|(file, text)| match toml::from_str::<Map>(text) {
            Ok(m) => Some(m),
            Err(e) => {
                // Compiled-in data a unit test reads: never seen outside a broken build.
                tracing::error!(file, error = %e, "a built-in engine mapping does not parse");
                None
            }
        })
        .collect()
});

impl Map {
    /// Every built-in table.
    pub fn all() -> &'static [Map] {
        &MAPS
    }

    /// The table of engine `name` (a target's `provider`).
    pub fn named(name: &str) -> Option<&'static Map> {
        Map::all().iter().find(|m| m.engine == name)
    }

    /// The table whose series an exposition has (by prefix), when the provider does not say.
    pub fn detect(names: impl Iterator<Item = impl AsRef<str>>) -> Option<&'static Map> {
        let mut counts = vec![0usize; Map::all().len()];
        for n in names {
            for (i, m) in Map::all().iter().enumerate() {
                if n.as_ref().starts_with(&m.prefix) {
                    counts[i] += 1;
                }
            }
        }
        let (best, n) = counts.iter().enumerate().max_by_key(|(_, n)| **n)?;
        (*n > 0).then(|| &Map::all()[best])
    }

    /// Every series name this table reads (with a histogram's `_bucket`, `_sum`, `_count`).
    pub fn sample_names(&self) -> impl Iterator<Item = String> + '_ {
        let hist = self
            .histograms
            .values()
            .chain(self.histogram_sums.values())
            .flatten()
            .flat_map(|n| ["_bucket", "_sum", "_count"].map(|s| format!("{n}{s}")));
        let plain = self
            .gauges
            .values()
            .chain(self.counters.values())
            .flatten()
            .cloned();
        hist.chain(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_table_parses_and_names_its_engine() {
        assert_eq!(Map::all().len(), SOURCES.len());
        for m in Map::all() {
            assert!(Map::named(&m.engine).is_some());
            for name in m.sample_names() {
                assert!(name.starts_with(&m.prefix), "{}: {name}", m.engine);
            }
        }
        let vllm = Map::named("vllm").unwrap();
        assert_eq!(
            vllm.histograms[&Hist::Ttft],
            ["vllm:time_to_first_token_seconds"]
        );
        // llama.cpp has counters only; TGI has no TTFT.
        assert!(Map::named("llama.cpp").unwrap().histograms.is_empty());
        assert!(
            !Map::named("tgi")
                .unwrap()
                .histograms
                .contains_key(&Hist::Ttft)
        );
    }

    #[test]
    fn an_exposition_says_which_engine_it_is() {
        let names = ["sglang:num_running_reqs", "process_cpu_seconds_total"];
        assert_eq!(Map::detect(names.iter()).unwrap().engine, "sglang");
        assert!(Map::detect(["up", "go_goroutines"].iter()).is_none());
    }
}
