//! The quantities of DESIGN §4 a request yields (TTFT, TPOT, ITL, e2e, …) and the statistics
//! taken over them: the names reports, gates and comparisons share.

use std::time::Duration;

use super::RequestRecord;

/// A latency quantity of DESIGN §4, as summaries, reports and gates name it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Quantity {
    /// Time to first token.
    Ttft,
    /// Time to first chunk (any SSE data event).
    Ttfc,
    /// Time per output token.
    Tpot,
    /// Inter-chunk latency, one sample per gap.
    Itl,
    /// End to end.
    E2e,
    /// Time to the first answer token (not reasoning).
    Ttfa,
    /// TTFT from the scheduled send time (the coordinated-omission view).
    CorrectedTtft,
    /// End to end from the scheduled send time.
    CorrectedE2e,
    /// `sent_at − intended_at`: the client's own lateness.
    ScheduleLag,
    /// e2e ÷ N, TTFT included: what LLMPerf calls inter-token latency (beside llm-soak's TPOT,
    /// which leaves the first token out).
    E2ePerToken,
}

impl Quantity {
    pub const ALL: [Quantity; 10] = [
        Quantity::Ttft,
        Quantity::Ttfc,
        Quantity::Tpot,
        Quantity::Itl,
        Quantity::E2e,
        Quantity::Ttfa,
        Quantity::CorrectedTtft,
        Quantity::CorrectedE2e,
        Quantity::ScheduleLag,
        Quantity::E2ePerToken,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Quantity::Ttft => "ttft",
            Quantity::Ttfc => "ttfc",
            Quantity::Tpot => "tpot",
            Quantity::Itl => "itl",
            Quantity::E2e => "e2e",
            Quantity::Ttfa => "ttfa",
            Quantity::CorrectedTtft => "corrected_ttft",
            Quantity::CorrectedE2e => "corrected_e2e",
            Quantity::ScheduleLag => "schedule_lag",
            Quantity::E2ePerToken => "e2e_per_token",
        }
    }

    pub fn parse(s: &str) -> Option<Quantity> {
        Quantity::ALL.into_iter().find(|q| q.as_str() == s)
    }

    /// The quantity's samples in one request (several for ITL, none when undefined).
    pub fn samples(self, rec: &RequestRecord) -> impl Iterator<Item = Duration> + '_ {
        let single = match self {
            Quantity::Ttft => rec.ttft(),
            Quantity::Ttfc => rec.time_to_first_chunk(),
            Quantity::Tpot => rec.tpot(),
            Quantity::E2e => Some(rec.e2e()),
            Quantity::Itl => None,
            Quantity::Ttfa => rec.time_to_first_answer(),
            Quantity::CorrectedTtft => rec.corrected_ttft(),
            Quantity::CorrectedE2e => Some(rec.corrected_e2e()),
            Quantity::ScheduleLag => Some(rec.schedule_lag()),
            Quantity::E2ePerToken => rec.e2e_per_token(),
        };
        let gaps = (self == Quantity::Itl)
            .then(|| rec.chunk_gaps())
            .into_iter()
            .flatten();
        single.into_iter().chain(gaps)
    }
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A statistic of a quantity's distribution over a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    Mean,
    Max,
    /// `q` in (0, 1).
    Quantile(f64),
}

impl Stat {
    /// The report's key for it: `mean`, `max`, `p95`, `p99.9`.
    pub fn key(self) -> String {
        match self {
            Stat::Mean => "mean".into(),
            Stat::Max => "max".into(),
            Stat::Quantile(q) => format!("p{}", (q * 100.0 * 1e6).round() / 1e6),
        }
    }

    /// `mean`, `max` or `pNN` (e.g. `p95`, `p99.9`).
    pub fn parse(s: &str) -> Option<Stat> {
        match s {
            "mean" => Some(Stat::Mean),
            "max" => Some(Stat::Max),
            p => match p.strip_prefix('p').and_then(|n| n.parse::<f64>().ok()) {
                Some(n) if n > 0.0 && n < 100.0 => Some(Stat::Quantile(n / 100.0)),
                _ => None,
            },
        }
    }
}

/// A number a gate or a comparison judges about a run: a latency statistic over a scope, the
/// client's own lag, or a rate. The one vocabulary of relative gates and `compare`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    Latency {
        quantity: Quantity,
        stat: Stat,
    },
    /// The client's own lag (the trust probe's), run-wide.
    ClientLag(Stat),
    ErrorRate,
    DropRate,
    AchievedRate,
    /// Output tokens per second of the measured time.
    OutputTokensPerSecond,
    /// The share of judged requests that met their SLO (`[slo]`).
    Attainment,
    /// Requests that met their SLO per second.
    Goodput,
}

impl Metric {
    /// As gates and comparisons write it: `ttft.p95`, `client_lag.p99`, `error_rate`.
    pub fn name(self) -> String {
        match self {
            Metric::Latency { quantity, stat } => format!("{}.{}", quantity.as_str(), stat.key()),
            Metric::ClientLag(stat) => format!("client_lag.{}", stat.key()),
            Metric::ErrorRate => "error_rate".into(),
            Metric::DropRate => "drop_rate".into(),
            Metric::AchievedRate => "achieved_rate".into(),
            Metric::OutputTokensPerSecond => "output_tokens_per_second".into(),
            Metric::Attainment => "attainment".into(),
            Metric::Goodput => "goodput".into(),
        }
    }
}
