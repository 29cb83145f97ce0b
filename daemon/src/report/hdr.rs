//! The exact histograms a report carries: HDR histograms of microseconds (1 µs – 1 h, 3
//! significant digits), serialized in the HdrHistogram V2 format, deflate-compressed and base64
//! encoded — the same encoding other HdrHistogram tools read. One constructor for every exact
//! histogram in llm-soak (run summaries, baselines), so they always merge.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{
    Deserializer, Serializer as _, V2DeflateSerializer, V2Serializer,
};
use serde::{Deserialize, Serialize, Serializer};

/// The largest value recorded: an hour, in microseconds.
pub const MAX_MICROS: u64 = 3_600_000_000;

/// An exact latency histogram in microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Hdr(Histogram<u64>);

impl Default for Hdr {
    fn default() -> Self {
        Hdr::new()
    }
}

impl Hdr {
    /// An empty histogram with llm-soak's bounds (3 significant digits).
    pub fn new() -> Self {
        Hdr::with_digits(3)
    }

    /// An empty histogram with fewer digits (cheaper, e.g. for baselines).
    pub fn with_digits(digits: u8) -> Self {
        // Constant, valid bounds (digits clamped to what the crate accepts): this cannot fail.
        #[allow(clippy::expect_used, reason = "constant bounds the crate accepts")]
        Hdr(
            Histogram::new_with_bounds(1, MAX_MICROS, digits.clamp(1, 5))
                .expect("valid HDR bounds"),
        )
    }

    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_MICROS);
        self.0.saturating_record(us);
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// Quantile `q` (0..=1) in seconds (`None` without samples).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        (self.count() > 0).then(|| self.0.value_at_quantile(q) as f64 / 1e6)
    }

    /// Every recorded value (seconds, the highest of its bucket's equivalent range) with its
    /// count, lowest first.
    pub fn recorded(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        self.0
            .iter_recorded()
            .map(|v| (v.value_iterated_to() as f64 / 1e6, v.count_at_value()))
    }

    /// Several quantiles (ascending, 0..=1) in one pass over the recorded values (seconds).
    pub fn quantiles(&self, qs: &[f64]) -> Vec<Option<f64>> {
        let n = self.count();
        let mut out = vec![None; qs.len()];
        if n == 0 {
            return out;
        }
        let mut seen = 0u64;
        let mut next = 0;
        for v in self.0.iter_recorded() {
            seen += v.count_at_value();
            while next < qs.len() {
                // The rank HdrHistogram's value_at_quantile uses: at least one sample.
                let rank = ((qs[next] * n as f64).ceil() as u64).max(1);
                if seen < rank {
                    break;
                }
                out[next] = Some(self.0.highest_equivalent(v.value_iterated_to()) as f64 / 1e6);
                next += 1;
            }
        }
        out
    }

    /// Standard deviation in seconds (`None` without samples).
    pub fn stdev(&self) -> Option<f64> {
        (self.count() > 0).then(|| self.0.stdev() / 1e6)
    }

    /// Mean in seconds (`None` without samples).
    pub fn mean(&self) -> Option<f64> {
        (self.count() > 0).then(|| self.0.mean() / 1e6)
    }

    /// Add `other`'s counts (histograms of different precision merge; values out of range are
    /// impossible with these bounds).
    pub fn merge(&mut self, other: &Hdr) {
        if self.0.add(&other.0).is_err() {
            for v in other.0.iter_recorded() {
                self.0
                    .saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }

    pub fn reset(&mut self) {
        self.0.reset();
    }

    /// The V2 + deflate encoding, base64.
    pub fn encode(&self) -> Result<String, HdrError> {
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&self.0, &mut bytes)
            .map_err(|e| HdrError::Encode(format!("{e:?}")))?;
        Ok(STANDARD.encode(bytes))
    }

    /// The V2 encoding without deflate, base64: cheaper to make (no compressor state), and
    /// still small for a sparse histogram (runs of zeros are one varint). For the many small
    /// histograms of a time series; [`Hdr::decode`] reads both.
    pub fn encode_plain(&self) -> Result<String, HdrError> {
        let mut bytes = Vec::new();
        V2Serializer::new()
            .serialize(&self.0, &mut bytes)
            .map_err(|e| HdrError::Encode(format!("{e:?}")))?;
        Ok(STANDARD.encode(bytes))
    }

    /// Read [`Hdr::encode`]'s output back.
    pub fn decode(text: &str) -> Result<Hdr, HdrError> {
        let bytes = STANDARD.decode(text.trim()).map_err(HdrError::Base64)?;
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| HdrError::NotAHistogram(format!("{e:?}")))?;
        Ok(Hdr(h))
    }
}

/// Why a histogram could not be encoded or read back.
#[derive(Debug, thiserror::Error)]
pub enum HdrError {
    #[error("cannot encode the histogram: {0}")]
    Encode(String),
    #[error("not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("not an HdrHistogram: {0}")]
    NotAHistogram(String),
}

impl Serialize for Hdr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = self.encode().map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for Hdr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Hdr::decode(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_round_trips_exactly_and_merges() {
        let mut a = Hdr::new();
        let mut b = Hdr::new();
        for i in 1..=1000u64 {
            a.record(Duration::from_micros(i * 37));
            b.record(Duration::from_millis(i));
        }
        let text = a.encode().unwrap();
        let back = Hdr::decode(&text).unwrap();
        assert_eq!(back, a);
        assert_eq!(back.quantile(0.99), a.quantile(0.99));
        let mut whole = a.clone();
        whole.merge(&b);
        assert_eq!(whole.count(), 2000);
        let json = serde_json::to_string(&whole).unwrap();
        let again: Hdr = serde_json::from_str(&json).unwrap();
        assert_eq!(again, whole);
        assert!(Hdr::decode("not base64 !").is_err());
        assert!(Hdr::decode("aGVsbG8=").is_err());
    }
}
