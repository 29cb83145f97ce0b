//! Reading an exposition (the Prometheus text format) for the samples a mapping table reads:
//! each wanted line is parsed on its own by `nom-openmetrics`, so one odd line costs that line,
//! never the scrape; the rest is only glanced at for the engine's series no table maps (named
//! once in the report, never an error).

use std::collections::{BTreeSet, HashSet};

/// One sample: its name, labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a read of an exposition kept.
#[derive(Debug, Default)]
pub struct Read {
    pub samples: Vec<Sample>,
    /// Wanted lines that did not parse.
    pub malformed: usize,
    /// The families (histograms by their base name) that start with `prefix`.
    pub families: BTreeSet<String>,
}

/// The sample name of a line (up to its labels or its value).
fn name_of(line: &str) -> &str {
    let end = line.find(['{', ' ', '\t']).unwrap_or(line.len());
    &line[..end]
}

/// A family's name: a histogram's `_bucket`, `_sum` and `_count` are one family.
fn family_of(name: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}

/// One sample line without its timestamp, as the parser takes it (`name{labels} value\n`).
fn normalised(line: &str) -> String {
    let head_end = line
        .rfind('}')
        .map_or_else(|| name_of(line).len(), |i| i + 1);
    let (head, rest) = line.split_at(head_end);
    let value = rest.split_whitespace().next().unwrap_or_default();
    format!("{head} {value}\n")
}

fn parse(line: &str) -> Option<Sample> {
    let text = normalised(line);
    let (rest, family) = nom_openmetrics::parser::family(&text).ok()?;
    let s = family.samples.first().filter(|_| rest.is_empty())?;
    Some(Sample {
        name: s.name().to_string(),
        labels: s
            .labels()
            .iter()
            .map(|l| (l.name.to_string(), l.value.clone()))
            .collect(),
        value: s.number(),
    })
}

/// The samples of `text` named in `wanted`, and the families that start with `prefix`.
pub fn read(text: &str, wanted: &HashSet<String>, prefix: &str) -> Read {
    let mut out = Read::default();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = name_of(line);
        if !prefix.is_empty() && name.starts_with(prefix) {
            out.families.insert(family_of(name).to_string());
        }
        if !wanted.contains(name) {
            continue;
        }
        match parse(line) {
            Some(s) => out.samples.push(s),
            None => out.malformed += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine=\"0\",model_name=\"m\"} 3.0
vllm:num_requests_running{engine=\"1\",model_name=\"m, \\\"quoted\\\"\"} 2.0
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"0.1\",model_name=\"m\"} 4.0
vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"+Inf\",model_name=\"m\"} 5.0 1700000000000
vllm:time_to_first_token_seconds_sum{engine=\"0\",model_name=\"m\"} 0.75
vllm:made_up_series 1
vllm:num_requests_waiting{model_name=\"m\"} not-a-number
go_goroutines 12
";

    #[test]
    fn wanted_lines_are_read_with_labels_anywhere_and_timestamps_dropped() {
        let wanted: HashSet<String> = [
            "vllm:num_requests_running",
            "vllm:time_to_first_token_seconds_bucket",
            "vllm:time_to_first_token_seconds_sum",
            "vllm:num_requests_waiting",
        ]
        .map(String::from)
        .into();
        let r = read(TEXT, &wanted, "vllm:");
        assert_eq!(r.samples.len(), 5);
        assert_eq!(r.samples[1].label("model_name"), Some("m, \"quoted\""));
        assert_eq!(r.samples[3].label("le"), Some("+Inf"));
        assert_eq!(r.samples[3].value, 5.0);
        // The unparsable value costs its line only.
        assert_eq!(r.malformed, 1);
        assert!(r.families.contains("vllm:made_up_series"));
        assert!(r.families.contains("vllm:time_to_first_token_seconds"));
        assert!(!r.families.contains("go_goroutines"));
    }
}
