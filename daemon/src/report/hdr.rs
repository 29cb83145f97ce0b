//! The exact histograms a report carries: HDR histograms of microseconds (1 µs – 1 h, 3
//! significant digits), serialized in the HdrHistogram V2 format, deflate-compressed and base64
//! encoded — the same encoding other HdrHistogram tools read. One constructor for every exact
//! histogram in llm-soak (run summaries, baselines), so they always merge.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer, V2Serializer};
use serde::{Deserialize, Serialize, Serializer};

/// The largest value recorded: an hour, in microseconds.
pub const MAX_MICROS: u64 = 3_600_000_000;

/// An exact latency histogram in microseconds. Its counters (23,552 of them, 184 KiB, at 3
/// digits) are allocated with its first value: the scopes and quantities that never see one (a
/// canary-only daemon's "all" and phase scopes, the inter-token quantities of an embeddings or
/// non-streamed scenario) cost nothing, and neither do their copies in every report.
#[derive(Debug, Clone)]
pub struct Hdr {
    h: Option<Histogram<u64>>,
    digits: u8,
}

impl Default for Hdr {
    fn default() -> Self {
        Hdr::new()
    }
}

/// The counters of a histogram with llm-soak's bounds and `digits` (1..=5).
fn counters(digits: u8) -> Histogram<u64> {
    // Constant, valid bounds (digits clamped to what the crate accepts): this cannot fail.
    #[allow(clippy::expect_used, reason = "constant bounds the crate accepts")]
    Histogram::new_with_bounds(1, MAX_MICROS, digits).expect("valid HDR bounds")
}

impl PartialEq for Hdr {
    /// Equal counts (two empty histograms of one precision are equal, allocated or not).
    fn eq(&self, other: &Hdr) -> bool {
        match (self.counted(), other.counted()) {
            (Some(a), Some(b)) => a == b,
            (None, None) => self.digits == other.digits,
            _ => false,
        }
    }
}

impl Hdr {
    /// An empty histogram with llm-soak's bounds (3 significant digits).
    pub fn new() -> Self {
        Hdr::with_digits(3)
    }

    /// An empty histogram with fewer digits (cheaper, e.g. for baselines).
    pub fn with_digits(digits: u8) -> Self {
        Hdr {
            h: None,
            digits: digits.clamp(1, 5),
        }
    }

    /// The histogram, when it holds a value.
    fn counted(&self) -> Option<&Histogram<u64>> {
        self.h.as_ref().filter(|h| !h.is_empty())
    }

    fn counters_mut(&mut self) -> &mut Histogram<u64> {
        let digits = self.digits;
        self.h.get_or_insert_with(|| counters(digits))
    }

    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_MICROS);
        self.counters_mut().saturating_record(us);
    }

    pub fn count(&self) -> u64 {
        self.h.as_ref().map_or(0, Histogram::len)
    }

    /// Quantile `q` (0..=1) in seconds (`None` without samples).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.counted().map(|h| h.value_at_quantile(q) as f64 / 1e6)
    }

    /// Every recorded value (seconds, the highest of its bucket's equivalent range) with its
    /// count, lowest first.
    pub fn recorded(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        self.counted().into_iter().flat_map(|h| {
            h.iter_recorded()
                .map(|v| (v.value_iterated_to() as f64 / 1e6, v.count_at_value()))
        })
    }

    /// Several quantiles (ascending, 0..=1) in one pass over the recorded values (seconds).
    pub fn quantiles(&self, qs: &[f64]) -> Vec<Option<f64>> {
        let mut out = vec![None; qs.len()];
        let Some(h) = self.counted() else {
            return out;
        };
        let n = h.len();
        let mut seen = 0u64;
        let mut next = 0;
        for v in h.iter_recorded() {
            seen += v.count_at_value();
            while next < qs.len() {
                // The rank HdrHistogram's value_at_quantile uses: at least one sample.
                let rank = ((qs[next] * n as f64).ceil() as u64).max(1);
                if seen < rank {
                    break;
                }
                out[next] = Some(h.highest_equivalent(v.value_iterated_to()) as f64 / 1e6);
                next += 1;
            }
        }
        out
    }

    /// Standard deviation in seconds (`None` without samples).
    pub fn stdev(&self) -> Option<f64> {
        self.counted().map(|h| h.stdev() / 1e6)
    }

    /// Mean in seconds (`None` without samples).
    pub fn mean(&self) -> Option<f64> {
        self.counted().map(|h| h.mean() / 1e6)
    }

    /// Add `other`'s counts (histograms of different precision merge; values out of range are
    /// impossible with these bounds).
    pub fn merge(&mut self, other: &Hdr) {
        let Some(o) = other.counted() else {
            return;
        };
        let h = self.counters_mut();
        if h.add(o).is_err() {
            for v in o.iter_recorded() {
                h.saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }

    /// Empty again (the counters, once allocated, are kept for the next values).
    pub fn reset(&mut self) {
        if let Some(h) = &mut self.h {
            h.reset();
        }
    }

    /// Serialize with `ser` (an empty histogram as one of its precision, so every reader sees
    /// the bounds).
    fn serialize_with<S: hdrhistogram::serialization::Serializer>(
        &self,
        mut ser: S,
    ) -> Result<Vec<u8>, HdrError>
    where
        S::SerializeError: std::fmt::Debug,
    {
        let mut bytes = Vec::new();
        let empty;
        let h = match &self.h {
            Some(h) => h,
            None => {
                empty = counters(self.digits);
                &empty
            }
        };
        ser.serialize(h, &mut bytes)
            .map_err(|e| HdrError::Encode(format!("{e:?}")))?;
        Ok(bytes)
    }

    /// The V2 encoding's bytes, deflated when `deflate`: what [`Hdr::encode`] and
    /// [`Hdr::encode_plain`] write in base64, for a holder that keeps bytes.
    pub fn encode_bytes(&self, deflate: bool) -> Result<Vec<u8>, HdrError> {
        if deflate {
            self.serialize_with(V2DeflateSerializer::new())
        } else {
            self.serialize_with(V2Serializer::new())
        }
    }

    /// The V2 + deflate encoding, base64.
    pub fn encode(&self) -> Result<String, HdrError> {
        self.encode_bytes(true).map(|b| STANDARD.encode(b))
    }

    /// The V2 encoding without deflate, base64: cheaper to make (no compressor state), and
    /// still small for a sparse histogram (runs of zeros are one varint). For the many small
    /// histograms of a time series; [`Hdr::decode`] reads both.
    pub fn encode_plain(&self) -> Result<String, HdrError> {
        self.encode_bytes(false).map(|b| STANDARD.encode(b))
    }

    /// Read [`Hdr::encode`]'s output back.
    pub fn decode(text: &str) -> Result<Hdr, HdrError> {
        let bytes = STANDARD.decode(text.trim()).map_err(HdrError::Base64)?;
        Hdr::decode_bytes(&bytes)
    }

    /// Read [`Hdr::encode_bytes`]'s output back (either form).
    pub fn decode_bytes(mut bytes: &[u8]) -> Result<Hdr, HdrError> {
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes)
            .map_err(|e| HdrError::NotAHistogram(format!("{e:?}")))?;
        // An empty one read back holds no counters either (a report carries empty histograms
        // of every quantity: a resumed run reads them all back).
        Ok(Hdr {
            digits: h.sigfig(),
            h: (!h.is_empty()).then_some(h),
        })
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
        assert!(Hdr::decode("").is_err());
        assert!(Hdr::decode("aGVsbG8=").is_err());
    }

    #[test]
    fn an_empty_histogram_holds_no_counters_until_its_first_value() {
        let empty = Hdr::new();
        assert!(empty.h.is_none() && empty.clone().h.is_none());
        let mut merged = Hdr::new();
        merged.merge(&empty);
        assert!(merged.h.is_none(), "merging nothing allocates nothing");
        assert_eq!(
            (empty.count(), empty.quantile(0.5), empty.mean()),
            (0, None, None)
        );
        assert_eq!(empty.recorded().count(), 0);
        // Its encoding is an empty histogram of its precision, read back equal — and without
        // counters.
        let back = Hdr::decode(&empty.encode().unwrap()).unwrap();
        assert_eq!(back, empty);
        assert!(back.h.is_none());
        assert_ne!(back, Hdr::with_digits(2));
        assert_eq!(Hdr::decode(&empty.encode_plain().unwrap()).unwrap(), empty);
        // The first value allocates; a reset keeps the counters for the next window.
        let mut h = Hdr::new();
        h.record(Duration::from_millis(5));
        assert_ne!(h, empty);
        h.reset();
        assert!(h.h.is_some() && h.count() == 0);
        assert_eq!(h, empty, "empty is empty, allocated or not");
        merged.merge(&{
            let mut one = Hdr::with_digits(2);
            one.record(Duration::from_millis(7));
            one
        });
        assert_eq!(merged.count(), 1);
    }
}
