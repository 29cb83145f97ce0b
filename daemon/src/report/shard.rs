//! Which part of a run a report covers: one replica of a sharded schedule (`I/N`, `0/1` for an
//! unsharded run), or a merge of them (`all N`, or `M of N` for a partial one). Typed, and
//! written as that text in the JSON so every report ever written still reads.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The part of a run a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportShard {
    /// Replica `index` of `count` (`0/1`: an unsharded run).
    Replica { index: u32, count: u32 },
    /// A merge of `merged` of the run's `of` shards (all of them, or a partial merge).
    Merged { merged: u32, of: u32 },
}

impl fmt::Display for ReportShard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ReportShard::Replica { index, count } => write!(f, "{index}/{count}"),
            ReportShard::Merged { merged, of } if merged == of => write!(f, "all {of}"),
            ReportShard::Merged { merged, of } => write!(f, "{merged} of {of}"),
        }
    }
}

impl std::str::FromStr for ReportShard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let num = |x: &str| x.trim().parse::<u32>().ok();
        let parsed = if let Some(of) = s.strip_prefix("all ") {
            num(of).map(|of| ReportShard::Merged { merged: of, of })
        } else if let Some((m, rest)) = s.split_once(" of ") {
            // "3 of 4", or "3 of 4 (missing 2/4)" as reports before schema 3 wrote it.
            let of = rest.split_whitespace().next().unwrap_or_default();
            num(m)
                .zip(num(of))
                .map(|(merged, of)| ReportShard::Merged { merged, of })
        } else {
            s.split_once('/')
                .and_then(|(i, n)| num(i).zip(num(n)))
                .map(|(index, count)| ReportShard::Replica { index, count })
        };
        parsed
            .filter(|p| match *p {
                ReportShard::Replica { index, count } => index < count,
                ReportShard::Merged { merged, of } => merged >= 1 && merged <= of,
            })
            .ok_or_else(|| format!("{s:?} is not a shard (I/N, \"all N\" or \"M of N\")"))
    }
}

impl Serialize for ReportShard {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ReportShard {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::ReportShard;

    #[test]
    fn every_form_reads_back_as_written_and_garbage_is_refused() {
        for text in ["0/1", "2/4", "all 4", "3 of 4"] {
            let s: ReportShard = text.parse().unwrap();
            assert_eq!(s.to_string(), text);
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<ReportShard>(&json).unwrap(), s);
        }
        let old: ReportShard = "3 of 4 (missing 2/4)".parse().unwrap();
        assert_eq!(old, ReportShard::Merged { merged: 3, of: 4 });
        for bad in ["", "4/4", "x/2", "all", "5 of 4", "0 of 4", "1/0"] {
            assert!(bad.parse::<ReportShard>().is_err(), "{bad:?}");
        }
    }
}
