//! The catalogue pins what is exported: every instrument appears under its pinned Prometheus
//! name (the exporter's real OTel→Prometheus translation) with its type, exactly its label set,
//! and its bucket boundaries; nothing outside the catalogue is exported under our prefixes.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use llm_soak::config::Config;
use llm_soak::export::Exporter;
use llm_soak::metrics::Recorder;
use llm_soak::metrics::canary::CanaryInstruments;
use llm_soak::metrics::catalogue::{self, DropReason, Kind};
use llm_soak::metrics::run::{RunIdentity, RunInstruments};
use llm_soak::record::{ErrorType, Outcome, RequestRecord, TokenSource};
use tokio::time::Instant;

fn config() -> Config {
    let text = r#"
        [[target]]
        name = "t"
        base_url = "http://127.0.0.1:8000"
        model = "m"
        [load]
        [[load.phases]]
        kind = "steady"
        rate = 1
        duration = "1m"
        [[scenario]]
        name = "s"
        input_tokens = 10
        output_tokens = 10
        [canary]
        interval = "1m"
        [slo]
        ttft = "1s"
    "#;
    Config::parse(text, "t", &|_| None).unwrap()
}

fn record(outcome: Outcome, error: Option<ErrorType>) -> RequestRecord {
    let t0 = Instant::now();
    let ms = |n| t0 + Duration::from_millis(n);
    RequestRecord {
        seq: 0,
        scenario: 0,
        intended_at: t0,
        sent_at: ms(1),
        first_chunk_at: Some(ms(50)),
        first_token_at: Some(ms(60)),
        first_answer_at: Some(ms(70)),
        token_events: vec![ms(60), ms(80), ms(100)],
        end_at: ms(110),
        output_tokens: 3,
        token_source: TokenSource::Usage,
        hidden_reasoning_tokens: 2,
        input_tokens: 10,
        cached_input_tokens: Some(4),
        usage_present: error.is_some(),
        generated_input_tokens: 9,
        recounted_output_tokens: Some(3),
        stalls: 1,
        outcome,
        error_type: error,
        status: Some(200),
        answer_text: None,
        phase: Some(0),
    }
}

#[derive(Debug, Default)]
struct Family {
    kind: String,
    help: String,
    label_sets: Vec<BTreeSet<String>>,
    le: Vec<f64>,
}

/// Every instrument written at least once, as the Prometheus text the exporter produces.
fn exposition_text() -> String {
    let exporter = Exporter::new(vec![]).unwrap();
    let identity = RunIdentity {
        run_id: "r1".into(),
        shard: llm_soak::report::ReportShard::Replica { index: 0, count: 1 },
        start_time: 1.0,
        tls_unverified: "none".into(),
    };
    let meter = exporter.meter();
    let config = config();
    let r = Recorder::new(
        &meter,
        llm_soak::metrics::request_labels(&config),
        Vec::new(),
    )
    .with_slos(config.slos());
    RunInstruments::new(&meter, &identity, config.checksum);
    r.started(0);
    r.finished(&record(Outcome::Success, None));
    r.started(0);
    r.finished(&record(Outcome::Error, Some(ErrorType::Http5xx)));
    r.dropped(DropReason::MaxInFlight);
    r.scheduled(Duration::from_millis(3));
    // One token event: TPOT undefined, counted.
    let mut burst = record(Outcome::Success, None);
    burst.token_events.truncate(1);
    r.started(0);
    r.finished(&burst);
    // The trust probe's instrument, as the probe records it.
    catalogue::CLIENT_LAG.histogram(&meter).record(0.0002, &[]);
    CanaryInstruments::new(&meter, identity.start_time).probe(&["answer"], 2.0);
    r.session_started();
    r.session_ended();
    // The resource sampler, with this process as the "target" and a scripted GPU.
    let gpu = llm_soak::resources::gpu::GpuSample {
        uuid: "GPU-0000".into(),
        name: "Fake H100".into(),
        utilization: Some(0.5),
        memory_used: Some(1 << 30),
        memory_total: Some(80 << 30),
        power_watts: Some(300.0),
        energy_joules: Some(1000.0),
        temperature_celsius: Some(60.0),
        sm_clock_hz: Some(1.9e9),
    };
    let config = llm_soak::resources::ResourceConfig {
        target_process: Some(llm_soak::config::TargetProcess {
            target: "t".into(),
            selector: llm_soak::resources::process::Selector::Pid(std::process::id()),
        }),
        ..Default::default()
    };
    let fake = llm_soak::resources::gpu::Fake::new(vec![Ok(vec![gpu])]);
    let mut sampler =
        llm_soak::resources::Sampler::new(config, &exporter.meter(), Some(Box::new(fake))).unwrap();
    sampler.tick();
    std::thread::sleep(Duration::from_millis(250));
    sampler.tick();
    // Drift baselines over a window that has closed.
    let t0 = Instant::now();
    let mut b = llm_soak::metrics::baseline::Baselines::new(
        &exporter.meter(),
        vec![(
            "s|t".into(),
            catalogue::REQUEST_LABELS
                .iter()
                .map(|k| opentelemetry::KeyValue::new(*k, "x"))
                .collect(),
        )],
        t0 - Duration::from_secs(1),
        &llm_soak::config::BaselineConfig {
            warmup: Duration::ZERO,
            window: Duration::from_secs(3600),
            min_samples: 1,
            state_dir: None,
        },
    );
    b.observe(&record(Outcome::Success, None));
    b.tick(t0 + Duration::from_secs(7200));
    exporter.encode().unwrap()
}

fn exposition() -> BTreeMap<String, Family> {
    let text = exposition_text();
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            families.entry(name.into()).or_default().kind = kind.into();
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            families.entry(name.into()).or_default().help = help.into();
        } else if !line.is_empty() {
            let (series, _) = line.rsplit_once(' ').unwrap();
            let (name, labels) = series.split_once('{').unwrap_or((series, ""));
            let mut set = BTreeSet::new();
            let mut le = None;
            for kv in labels
                .trim_end_matches('}')
                .split("\",")
                .filter(|s| !s.is_empty())
            {
                let (k, v) = kv.split_once('=').unwrap();
                if k == "le" {
                    le = Some(v.trim_matches('"').to_string());
                } else {
                    set.insert(k.to_string());
                }
            }
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s)
                        .filter(|b| families.get(*b).is_some_and(|f| f.kind == "histogram"))
                })
                .unwrap_or(name);
            let fam = families.entry(base.into()).or_default();
            if let Some(le) = le
                && le != "+Inf"
            {
                let v: f64 = le.parse().unwrap();
                if !fam.le.contains(&v) {
                    fam.le.push(v);
                }
            }
            if !fam.label_sets.contains(&set) {
                fam.label_sets.push(set);
            }
        }
    }
    families
}

fn prom_key(k: &str) -> String {
    k.replace('.', "_")
}

#[test]
fn every_instrument_is_exported_under_its_pinned_name_type_and_labels() {
    let families = exposition();
    for inst in catalogue::ALL {
        let fam = families
            .get(inst.prom)
            .unwrap_or_else(|| panic!("{} not exported as {}", inst.name, inst.prom));
        let kind = match inst.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        assert_eq!(fam.kind, kind, "{}", inst.prom);
        assert_eq!(fam.help, inst.description, "{}", inst.prom);
        assert!(!inst.description.is_empty());
        let all: BTreeSet<String> = inst.labels.iter().map(|k| prom_key(k)).collect();
        let required: BTreeSet<String> = inst
            .labels
            .iter()
            .filter(|k| !inst.optional.contains(k))
            .map(|k| prom_key(k))
            .collect();
        for set in &fam.label_sets {
            assert!(
                set.is_subset(&all),
                "{}: unexpected labels {set:?}",
                inst.prom
            );
            assert!(
                set.is_superset(&required),
                "{}: missing labels in {set:?}",
                inst.prom
            );
        }
        if inst.kind == Kind::Histogram {
            assert_eq!(fam.le, inst.buckets, "{} buckets", inst.prom);
        }
    }
}

#[test]
fn nothing_outside_the_catalogue_is_exported() {
    let pinned: BTreeSet<&str> = catalogue::ALL.iter().map(|i| i.prom).collect();
    let other: BTreeSet<&str> = catalogue::OTHER.iter().map(|o| o.0).collect();
    let exported = exposition();
    for name in exported.keys() {
        assert!(
            pinned.contains(name.as_str()) || other.contains(name.as_str()),
            "{name} is exported but neither in the catalogue nor in catalogue::OTHER"
        );
    }
    // …and what OTHER names is there, as the type it says.
    for (name, kind, _) in catalogue::OTHER {
        let family = exported
            .get(*name)
            .unwrap_or_else(|| panic!("catalogue::OTHER names {name}, which is not exported"));
        assert_eq!(family.kind, *kind, "{name}");
    }
}

#[test]
fn buckets_are_strictly_increasing_and_request_labels_are_the_design_set() {
    for inst in catalogue::ALL {
        assert!(
            inst.buckets.windows(2).all(|w| w[0] < w[1]),
            "{}",
            inst.name
        );
        assert_eq!(
            inst.kind == Kind::Histogram,
            !inst.buckets.is_empty(),
            "{}",
            inst.name
        );
        let names: BTreeSet<&str> = catalogue::ALL.iter().map(|i| i.name).collect();
        assert_eq!(names.len(), catalogue::ALL.len());
    }
    let r: Vec<String> = catalogue::REQUEST_LABELS
        .iter()
        .map(|k| prom_key(k))
        .collect();
    assert_eq!(
        r,
        [
            "gen_ai_operation_name",
            "gen_ai_provider_name",
            "gen_ai_request_model",
            "server_address",
            "server_port",
            "llmsoak_target",
            "llmsoak_scenario"
        ]
    );
    // The standard process collector shares the registry.
    assert!(exposition().contains_key("process_resident_memory_bytes"));
}

#[test]
fn the_whole_catalogue_passes_promtool_check_metrics() {
    // GPU, target-process and baseline series included: every name passes the naming lint.
    let (ok, report) = crate::common::promtool_check_metrics(&exposition_text());
    assert!(
        ok && report.trim().is_empty(),
        "promtool check metrics:\n{report}"
    );
}
