//! One of every instrument written, as the Prometheus text the exporter produces: the
//! catalogue checks read it (tests/checks) and promtool lints it (tests/it, where promtool is).
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use llm_soak::config::Config;
use llm_soak::export::Exporter;
use llm_soak::metrics::Recorder;
use llm_soak::metrics::canary::CanaryInstruments;
use llm_soak::metrics::catalogue::{self, DropReason};
use llm_soak::metrics::run::{RunIdentity, RunInstruments};
use llm_soak::record::{ErrorType, Outcome, RequestRecord, TokenSource};
use tokio::time::Instant;

pub(crate) fn config() -> Config {
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

pub(crate) fn record(outcome: Outcome, error: Option<ErrorType>) -> RequestRecord {
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
        token_events: [ms(60), ms(80), ms(100)].into_iter().collect(),
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
        identity: llm_soak::record::Identity::default(),
    }
}

/// Every instrument written at least once, as the Prometheus text the exporter produces.
pub(crate) fn exposition_text() -> String {
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
    burst.token_events = burst.first_token_at.into_iter().collect();
    r.started(0);
    r.finished(&burst);
    // The trust probe's instrument, as the probe records it.
    catalogue::CLIENT_LAG.histogram(&meter).record(0.0002, &[]);
    CanaryInstruments::new(&meter, identity.start_time).probe(&["answer"], 2.0);
    r.session_started();
    r.session_ended();
    let _connections = llm_soak::metrics::connections_opened(&meter, || vec![("t".into(), 3)]);
    // The timeline's, as a disruption recovers.
    catalogue::RECOVERY.gauge(&meter).record(
        8.0,
        &[opentelemetry::KeyValue::new("stage", "within_tolerance")],
    );
    // The engine scrape's health, as the runner records it.
    llm_soak::metrics::server::ScrapeInstruments::new(&meter).record(
        "t",
        true,
        Duration::from_millis(3),
        42,
    );
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
        target_process: Some(llm_soak::config::TargetProcess::new(
            "t",
            llm_soak::resources::process::Selector::Pid(std::process::id()),
        )),
        ..Default::default()
    };
    let fake = llm_soak::resources::gpu::Fake::new(vec![Ok(vec![gpu])]);
    let mut sampler =
        llm_soak::resources::Sampler::new(config, &exporter.meter(), Some(Box::new(fake))).unwrap();
    // Twice: the CPU gauges need a primed sample (only their presence is asserted, never a value).
    sampler.tick();
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
