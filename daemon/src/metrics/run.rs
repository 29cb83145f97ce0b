//! The run's own instruments: identity (`llmsoak_run_info` with run id, shard and the targets
//! whose certificates go unverified,
//! `llmsoak_build_info`, the start time, the planned end, the shard count) and the blackbox-style reload status (last reload
//! successful, its time, the running config's checksum as a number).

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Gauge, Meter};

use super::catalogue as c;

/// The planned end of a run without one: 2100-01-01 (a gauge cannot hold +Inf through OTel).
pub const NEVER: f64 = 4_102_444_800.0;

/// Identity of this run, exported as `llmsoak_run_info`.
#[derive(Debug, Clone)]
pub struct RunIdentity {
    pub run_id: String,
    /// This replica's `I/N`.
    pub shard: crate::report::ReportShard,
    /// Unix time in seconds.
    pub start_time: f64,
    /// The targets whose certificates are not verified (`tls.insecure_skip_verify`), comma
    /// separated, or `none`.
    pub tls_unverified: String,
}

impl RunIdentity {
    /// The `tls_unverified` value of `config`.
    pub fn unverified(config: &crate::config::Config) -> String {
        let names: Vec<&str> = config
            .targets
            .iter()
            .filter(|t| t.tls.insecure_skip_verify)
            .map(|t| t.name.as_str())
            .collect();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(",")
        }
    }
}

/// The reload gauges (identity is written once, at construction).
#[derive(Debug)]
pub struct RunInstruments {
    planned_end: Gauge<f64>,
    reload_ok: Gauge<f64>,
    reload_time: Gauge<f64>,
    checksum: Gauge<f64>,
}

impl RunInstruments {
    /// Export the run's identity and the initial config (`checksum`) as loaded successfully.
    pub fn new(meter: &Meter, identity: &RunIdentity, checksum: u64) -> Self {
        c::RUN_INFO.gauge(meter).record(
            1.0,
            &[
                KeyValue::new("llmsoak.run.id", identity.run_id.clone()),
                KeyValue::new("llmsoak.shard", identity.shard.to_string()),
                KeyValue::new("llmsoak.tls.unverified", identity.tls_unverified.clone()),
            ],
        );
        c::BUILD_INFO
            .gauge(meter)
            .record(1.0, &[KeyValue::new("version", crate::VERSION)]);
        c::RUN_START_TIME
            .gauge(meter)
            .record(identity.start_time, &[]);
        let shards = match identity.shard {
            crate::report::ReportShard::Replica { count, .. } => count,
            crate::report::ReportShard::Merged { of, .. } => of,
        };
        c::RUN_SHARDS.gauge(meter).record(f64::from(shards), &[]);
        let r = RunInstruments {
            planned_end: c::RUN_PLANNED_END.gauge(meter),
            reload_ok: c::CONFIG_RELOAD_OK.gauge(meter),
            reload_time: c::CONFIG_RELOAD_TIME.gauge(meter),
            checksum: c::CONFIG_CHECKSUM.gauge(meter),
        };
        r.config_reloaded(true, checksum, identity.start_time);
        // Until the run says when it ends.
        r.planned_end(None);
        r
    }

    /// The run plans to stop sending at `unix_time` (`None`: never).
    pub fn planned_end(&self, unix_time: Option<f64>) {
        self.planned_end.record(unix_time.unwrap_or(NEVER), &[]);
    }

    /// A reload was attempted at `unix_time`; `checksum` is the config running afterwards.
    pub fn config_reloaded(&self, ok: bool, checksum: u64, unix_time: f64) {
        self.reload_ok.record(if ok { 1.0 } else { 0.0 }, &[]);
        self.reload_time.record(unix_time, &[]);
        self.checksum
            .record((checksum & ((1 << 48) - 1)) as f64, &[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_info_names_the_targets_whose_certificates_go_unverified() {
        let text = |a: &str, b: &str| {
            format!(
                "[[target]]\nname = \"a\"\nbase_url = \"https://127.0.0.1:1\"\nmodel = \"m\"\n{a}\n\
                 [[target]]\nname = \"b\"\nbase_url = \"https://127.0.0.1:2\"\nmodel = \"m\"\n{b}\n\
                 [load]\npreset = {{ name = \"steady\", rate = 1 }}\n\
                 [[scenario]]\nname = \"s\"\ntarget = \"a\"\ninput_tokens = 8\noutput_tokens = 8\n"
            )
        };
        let config =
            |a: &str, b: &str| crate::config::Config::parse(&text(a, b), "t", &|_| None).unwrap();
        assert_eq!(RunIdentity::unverified(&config("", "")), "none");
        let off = "tls = { insecure_skip_verify = true }";
        assert_eq!(RunIdentity::unverified(&config("", off)), "b");
        assert_eq!(RunIdentity::unverified(&config(off, off)), "a,b");
    }
}
