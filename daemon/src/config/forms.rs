//! The value forms config keys share, as serde sees them: durations (`"250ms"`, `"1h 30m"`;
//! positive, or zero allowed), a duration or `"forever"`, a `{ min, max }` pair of durations,
//! and a key that is either a scalar or a table (`users = 8` or `users = { from, to, over }`).
//! Each parses to a plain Rust value and prints back as the config writes it.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::de::{self, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Defaults, for `#[serde(default = "…")]`: `secs::<30>`, `millis::<250>`, `int::<256, _>`,
/// `fraction::<5, 100>` (0.05), `yes`.
pub fn secs<const N: u64>() -> Duration {
    Duration::from_secs(N)
}

pub fn millis<const N: u64>() -> Duration {
    Duration::from_millis(N)
}

pub fn int<const N: u64, T: TryFrom<u64> + Default>() -> T {
    T::try_from(N).unwrap_or_default()
}

pub fn fraction<const NUM: u32, const DEN: u32>() -> f64 {
    f64::from(NUM) / f64::from(DEN)
}

pub fn yes() -> bool {
    true
}

fn parse(s: &str, zero_ok: bool) -> Result<Duration, String> {
    let examples = if zero_ok {
        "\"0s\", \"50us\", \"20ms\""
    } else {
        "\"500ms\", \"30s\", \"2h\""
    };
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() && !zero_ok => Err(format!("must be > 0 (got {s:?})")),
        Ok(d) => Ok(d),
        Err(e) => Err(format!(
            "invalid duration {s:?}: {e} (examples: {examples})"
        )),
    }
}

fn text(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn de_str<'de, D: Deserializer<'de>>(d: D, zero_ok: bool) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse(&s, zero_ok).map_err(de::Error::custom)
}

/// A positive duration (`"0s"` is refused).
pub mod dur {
    use super::*;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        de_str(d, false)
    }
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&text(*d))
    }
}

/// A duration that may be zero.
pub mod dur0 {
    use super::*;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        de_str(d, true)
    }
    pub use super::dur::serialize;
}

/// An optional positive duration (with `#[serde(default)]`).
pub mod opt_dur {
    use super::*;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        de_str(d, false).map(Some)
    }
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&text(*d)),
            None => s.serialize_none(),
        }
    }
}

/// An optional duration that may be zero (with `#[serde(default)]`).
pub mod opt_dur0 {
    use super::*;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        de_str(d, true).map(Some)
    }
    pub use super::opt_dur::serialize;
}

/// An optional duration that may be zero or `"forever"` (`Some(None)`; with `#[serde(default)]`).
pub mod opt_until0 {
    use super::*;
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<Duration>>, D::Error> {
        let s = String::deserialize(d)?;
        if s == "forever" {
            return Ok(Some(None));
        }
        parse(&s, true)
            .map(|d| Some(Some(d)))
            .map_err(de::Error::custom)
    }
}

/// A positive duration or `"forever"` (`None`).
pub mod until {
    use super::*;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s = String::deserialize(d)?;
        if s == "forever" {
            return Ok(None);
        }
        parse(&s, false).map(Some).map_err(de::Error::custom)
    }
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&d.map_or_else(|| "forever".to_string(), text))
    }
}

/// A value as a problem names it: `string "x"`, `integer 3`, `a table`.
pub fn describe(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("string {s:?}"),
        toml::Value::Integer(i) => format!("integer {i}"),
        toml::Value::Float(x) => format!("float {x}"),
        toml::Value::Boolean(b) => format!("boolean {b}"),
        toml::Value::Datetime(d) => format!("datetime {d}"),
        toml::Value::Array(_) => "an array".to_string(),
        toml::Value::Table(_) => "a table".to_string(),
    }
}

/// An `IP:port` address.
pub mod addr {
    use super::*;
    use std::net::SocketAddr;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(|_| {
            de::Error::custom(format!(
                "must be an IP:port address such as \"127.0.0.1:9464\" (got {s:?})"
            ))
        })
    }
    pub fn serialize<S: Serializer>(a: &SocketAddr, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(a)
    }
}

/// A think time: one duration, or uniform in `{ min, max }` (either may be zero).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Between {
    pub min: Duration,
    pub max: Duration,
}

impl Between {
    pub fn is_zero(&self) -> bool {
        self.max.is_zero()
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct MinMax {
    #[serde(with = "dur0")]
    min: Duration,
    #[serde(with = "dur0")]
    max: Duration,
}

impl<'de> Deserialize<'de> for Between {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Either::<String, MinMax>::deserialize(d)? {
            Either::Scalar(s) => {
                let one = parse(&s, true).map_err(de::Error::custom)?;
                Ok(Between { min: one, max: one })
            }
            Either::Table(MinMax { min, max }) if min <= max => Ok(Between { min, max }),
            Either::Table(_) => Err(de::Error::custom("min must be <= max")),
        }
    }
}

impl Serialize for Between {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        MinMax {
            min: self.min,
            max: self.max,
        }
        .serialize(s)
    }
}

/// A key that takes a scalar (`S`: a string, an integer, a float or a boolean) or a table
/// (`T`); the problems inside the table keep their paths.
#[derive(Debug, Clone, PartialEq)]
pub enum Either<S, T> {
    Scalar(S),
    Table(T),
}

impl<'de, S: Deserialize<'de>, T: Deserialize<'de>> Deserialize<'de> for Either<S, T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<S, T>(PhantomData<(S, T)>);
        impl<'de, S: Deserialize<'de>, T: Deserialize<'de>> Visitor<'de> for V<S, T> {
            type Value = Either<S, T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value or a table")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                S::deserialize(v.to_string().into_deserializer()).map(Either::Scalar)
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                S::deserialize(v.into_deserializer()).map(Either::Scalar)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                S::deserialize(v.into_deserializer()).map(Either::Scalar)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                S::deserialize(v.into_deserializer()).map(Either::Scalar)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                S::deserialize(v.into_deserializer()).map(Either::Scalar)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                S::deserialize(v.into_deserializer()).map(Either::Scalar)
            }
            fn visit_map<M: MapAccess<'de>>(self, m: M) -> Result<Self::Value, M::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(m)).map(Either::Table)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    struct Doc {
        #[serde(with = "dur")]
        a: Duration,
        #[serde(with = "until")]
        b: Option<Duration>,
        c: Between,
    }

    #[test]
    fn durations_parse_and_print_as_the_config_writes_them() {
        let doc: Doc = toml::from_str("a = \"1m 30s\"\nb = \"forever\"\nc = \"2s\"\n").unwrap();
        let s = Duration::from_secs;
        assert_eq!(doc.a, s(90));
        assert_eq!(doc.b, None);
        assert_eq!(
            doc.c,
            Between {
                min: s(2),
                max: s(2)
            }
        );
        let again: Doc = toml::from_str(&toml::to_string(&doc).unwrap()).unwrap();
        assert_eq!(again, doc);
        let bad =
            toml::from_str::<Doc>("a = \"0s\"\nb = \"1s\"\nc = { min = \"2s\", max = \"1s\" }");
        assert!(
            bad.unwrap_err()
                .message()
                .contains("must be > 0 (got \"0s\")")
        );
        let bad =
            toml::from_str::<Doc>("a = \"1s\"\nb = \"1s\"\nc = { min = \"2s\", max = \"1s\" }");
        assert_eq!(bad.unwrap_err().message(), "min must be <= max");
    }
}
