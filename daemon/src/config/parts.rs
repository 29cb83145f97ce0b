//! The parts of a `[[scenario]]` that describe where content and lengths come from — token
//! counts, token-length distributions (including empirical files), corpus files, datasets,
//! shared prefixes — and conversational sessions: their shapes and checks. The files are only
//! named here; the preparation step reads them.

use serde::de::Deserializer;
use serde::{Deserialize, Serialize, Serializer};

use super::FileRef;
use super::check::Check;
use super::forms::{Between, Either};

/// Most tokens a length, a prefix or a bound may have.
pub(super) const MAX_TOKENS_LIMIT: u32 = 1 << 20;

/// A token count, `1..=2^20`: checked where it is read, at its own path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u32")]
pub struct Tokens(pub u32);

impl TryFrom<i64> for Tokens {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, String> {
        match n {
            ..=0 => Err(format!("must be > 0 (got {n})")),
            n if n > i64::from(MAX_TOKENS_LIMIT) => {
                Err(format!("must be <= {MAX_TOKENS_LIMIT} (got {n})"))
            }
            n => Ok(Tokens(n as u32)),
        }
    }
}

impl From<Tokens> for u32 {
    fn from(t: Tokens) -> u32 {
        t.0
    }
}

/// A length distribution in tokens, clipped to `[min, max]`: an integer (constant), or a table
/// with exactly one of `constant`, `uniform = {min, max}`, `normal = {mean, stddev}`,
/// `lognormal = {mean, stddev}`, `empirical = { file }`, and optional `min`/`max` clip bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Either<Tokens, DistTable>")]
pub struct LengthDist {
    #[serde(flatten)]
    pub dist: DistKind,
    pub min: u32,
    pub max: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DistKind {
    Constant(u32),
    /// Uniform over `[min, max]` (the same bounds as the clip range).
    Uniform {
        min: u32,
        max: u32,
    },
    Normal {
        mean: f64,
        stddev: f64,
    },
    /// `mean`/`stddev` of the resulting token counts, not of the underlying normal.
    Lognormal {
        mean: f64,
        stddev: f64,
    },
    /// Drawn uniformly from the values of a file (one token count per line).
    Empirical(Empirical),
}

/// Token counts read from a file, one per line (`#` comments and blank lines skipped), by the
/// preparation step. Without explicit `min`/`max` no value is clipped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Empirical {
    #[serde(flatten)]
    pub file: FileRef,
}

/// `{ min, max }` of a uniform length.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, try_from = "Bounds")]
pub(super) struct Uniform(u32, u32);

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
struct Bounds {
    min: Tokens,
    max: Tokens,
}

impl TryFrom<Bounds> for Uniform {
    type Error = String;
    fn try_from(b: Bounds) -> Result<Self, String> {
        match (b.min.0, b.max.0) {
            (lo, hi) if lo > hi => Err(format!("min must be <= max (got {lo} > {hi})")),
            (lo, hi) => Ok(Uniform(lo, hi)),
        }
    }
}

/// `{ mean, stddev }` of a normal or lognormal length.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MeanSd {
    mean: f64,
    stddev: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistTable {
    #[serde(default)]
    constant: Option<Tokens>,
    #[serde(default)]
    uniform: Option<Uniform>,
    #[serde(default)]
    normal: Option<MeanSd>,
    #[serde(default)]
    lognormal: Option<MeanSd>,
    #[serde(default)]
    empirical: Option<FileRef>,
    #[serde(default)]
    min: Option<Tokens>,
    #[serde(default)]
    max: Option<Tokens>,
}

impl TryFrom<Either<Tokens, DistTable>> for LengthDist {
    type Error = String;
    fn try_from(v: Either<Tokens, DistTable>) -> Result<Self, String> {
        let t = match v {
            Either::Scalar(Tokens(n)) => {
                return Ok(LengthDist {
                    dist: DistKind::Constant(n),
                    min: n,
                    max: n,
                });
            }
            Either::Table(t) => t,
        };
        let mut kinds = Vec::new();
        if let Some(Tokens(n)) = t.constant {
            kinds.push((DistKind::Constant(n), (n, n)));
        }
        if let Some(Uniform(min, max)) = t.uniform {
            kinds.push((DistKind::Uniform { min, max }, (min, max)));
        }
        let wide = |m: MeanSd| (1, ((m.mean + 10.0 * m.stddev).ceil() as u32).max(1));
        if let Some(m) = t.normal {
            let (mean, stddev) = (m.mean, m.stddev);
            kinds.push((DistKind::Normal { mean, stddev }, wide(m)));
        }
        if let Some(m) = t.lognormal {
            let (mean, stddev) = (m.mean, m.stddev);
            kinds.push((DistKind::Lognormal { mean, stddev }, wide(m)));
        }
        if let Some(file) = t.empirical {
            // The file's values are read later: without explicit bounds none is clipped.
            kinds.push((
                DistKind::Empirical(Empirical { file }),
                (1, MAX_TOKENS_LIMIT),
            ));
        }
        let Some((dist, (lo, hi))) = kinds.pop().filter(|_| kinds.is_empty()) else {
            return Err("must name exactly one of constant, uniform, normal, lognormal, empirical (e.g. { lognormal = { mean = 512, stddev = 128 }, min = 16, max = 4096 })".into());
        };
        let min = t.min.map_or(lo, |m| m.0);
        let max = t.max.map_or(hi, |m| m.0);
        if min > max {
            return Err(format!("min must be <= max (got {min} > {max})"));
        }
        Ok(LengthDist { dist, min, max })
    }
}

impl LengthDist {
    /// A constant length.
    pub fn constant(n: u32) -> Self {
        LengthDist {
            dist: DistKind::Constant(n),
            min: n,
            max: n,
        }
    }

    /// The checks a shape cannot make: a normal's mean and spread, an empirical file's path.
    pub(super) fn check(&mut self, c: &mut Check<'_>, at: &str) {
        let limit = f64::from(MAX_TOKENS_LIMIT);
        let kind = match self.dist {
            DistKind::Normal { .. } => "normal",
            _ => "lognormal",
        };
        match &mut self.dist {
            DistKind::Normal { mean, stddev } | DistKind::Lognormal { mean, stddev } => {
                c.float_in(&format!("{at}.{kind}.mean"), *mean, 0.0, false, limit);
                c.float_in(&format!("{at}.{kind}.stddev"), *stddev, 0.0, true, limit);
            }
            DistKind::Empirical(e) => e.file.check(c, &format!("{at}.empirical.file")),
            DistKind::Constant(_) | DistKind::Uniform { .. } => {}
        }
    }
}

/// `shared_prefix = { tokens, pool, share }`: a pool of `pool` distinct prefixes of `tokens`
/// tokens, each request reusing one with probability `share`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedPrefix {
    #[serde(with = "tokens")]
    pub tokens: u32,
    pub pool: u32,
    pub share: f64,
}

impl SharedPrefix {
    fn check(&self, c: &mut Check<'_>, at: &str) {
        c.int_in(&format!("{at}.pool"), self.pool, 1, 1_000_000);
        c.float_in(&format!("{at}.share"), self.share, 0.0, true, 1.0);
    }
}

/// A `u32` field read as [`Tokens`].
pub(super) mod tokens {
    use super::*;
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        Tokens::deserialize(d).map(|t| t.0)
    }
    pub(crate) fn serialize<S: Serializer>(n: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(*n)
    }
}

/// Where prompt text is cut from (`corpus = { file = "…" }`; absent: embedded).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Corpus {
    /// The embedded public-domain corpus.
    #[default]
    Embedded,
    /// A user text file, read once by the preparation step.
    File(FileRef),
}

impl<'de> Deserialize<'de> for Corpus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        FileRef::deserialize(d).map(Corpus::File)
    }
}

impl Corpus {
    pub fn is_embedded(&self) -> bool {
        matches!(self, Corpus::Embedded)
    }
}

/// File format of a dataset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[default]
    Jsonl,
    Sharegpt,
}

/// How to treat a bad entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    #[default]
    Skip,
    Fail,
}

/// What to load and keep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    #[serde(with = "super::file_path")]
    pub file: FileRef,
    #[serde(default)]
    pub format: Format,
    /// Draw with replacement (default) or walk a seeded permutation.
    #[serde(default = "super::forms::yes")]
    pub replacement: bool,
    #[serde(default)]
    pub on_error: OnError,
    /// Keep only entries whose prompt has this many tokens (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_input_tokens: Option<Tokens>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_input_tokens: Option<Tokens>,
}

impl DatasetSpec {
    fn check(&mut self, c: &mut Check<'_>, at: &str) {
        self.file.check(c, &format!("{at}.file"));
        if let (Some(lo), Some(hi)) = (self.min_input_tokens, self.max_input_tokens)
            && lo.0 > hi.0
        {
            c.bad(
                at,
                format!(
                    "min_input_tokens must be <= max_input_tokens (got {} > {})",
                    lo.0, hi.0
                ),
            );
        }
    }
}

/// `session = { turns, think_time }`: the scenario is a conversation; arrivals start sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// Turns per session (the length-distribution grammar), at least 1.
    pub turns: LengthDist,
    /// Think time before each next turn, uniform in `[min, max]`.
    #[serde(default)]
    pub think_time: Between,
}

/// The content parts of scenario `at`: their checks.
pub(super) fn check(c: &mut Check<'_>, at: &str, s: &mut super::Scenario) {
    if let Some(d) = &mut s.input_tokens {
        d.check(c, &format!("{at}.input_tokens"));
    }
    if let Some(d) = &mut s.output_tokens {
        d.check(c, &format!("{at}.output_tokens"));
    }
    if let Some(p) = &s.shared_prefix {
        p.check(c, &format!("{at}.shared_prefix"));
    }
    if let Corpus::File(f) = &mut s.corpus {
        f.check(c, &format!("{at}.corpus.file"));
    }
    if let Some(d) = &mut s.dataset {
        d.check(c, &format!("{at}.dataset"));
    }
    if let Some(x) = &mut s.session {
        x.turns.check(c, &format!("{at}.session.turns"));
    }
}
