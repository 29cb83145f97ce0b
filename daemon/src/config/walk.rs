//! The schema walker: typed reads over a span-carrying TOML tree that never stop at the first
//! problem. Every read either returns a value or records a [`Problem`] with the dotted path and
//! the source line, and the caller keeps going; unknown keys are reported when a table is
//! finished. `schema.rs` describes llm-soak's config in terms of these reads.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One thing wrong with a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted path, e.g. `load.phases[0].rate`.
    pub path: String,
    /// 1-based line of the offending value or key, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Where a value sits in the config file: its dotted path and line. Kept in the validated config
/// beside every file it names, so the preparation step that reads the file later reports its
/// problems at the place that named it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub path: String,
    pub line: Option<usize>,
}

impl Origin {
    /// A problem at this place.
    pub fn problem(&self, message: impl Into<String>) -> Problem {
        Problem {
            path: self.path.clone(),
            line: self.line,
            message: message.into(),
        }
    }
}

/// Collects problems while walking one source text.
pub struct Walk<'s> {
    line_starts: Vec<usize>,
    pub problems: Vec<Problem>,
    env: &'s dyn Fn(&str) -> Option<String>,
    /// For a command that sends nothing (`plan`, `print-config`): a secret's variable may be
    /// unset, and is then only named, never needed.
    inspect: bool,
}

/// What an unset secret stands for while a config is only inspected (never sent anywhere;
/// `print-config` shows the variable's name, and redacts values anyway).
pub const UNRESOLVED_SECRET: &str = "<unset: not needed to inspect>";

impl fmt::Debug for Walk<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Walk")
            .field("problems", &self.problems)
            .finish_non_exhaustive()
    }
}

impl<'s> Walk<'s> {
    pub fn new(src: &str, env: &'s dyn Fn(&str) -> Option<String>) -> Self {
        let line_starts = std::iter::once(0)
            .chain(src.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Walk {
            line_starts,
            problems: Vec::new(),
            env,
            inspect: false,
        }
    }

    /// This walk only inspects the config: unset secrets are not problems.
    pub fn inspecting(mut self) -> Self {
        self.inspect = true;
        self
    }

    /// Parse `text` as a TOML document; a syntax error is reported and gives `None`.
    pub fn parse<'i>(&mut self, text: &'i str) -> Option<Spanned<DeTable<'i>>> {
        match DeTable::parse(text) {
            Ok(doc) => Some(doc),
            Err(e) => {
                self.report("", e.span(), format!("TOML syntax error: {}", e.message()));
                None
            }
        }
    }

    pub fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset)
    }

    pub fn report(&mut self, path: &str, span: Option<Range<usize>>, message: impl Into<String>) {
        let line = span.map(|s| self.line_of(s.start));
        self.problems.push(Problem {
            path: path.to_string(),
            line,
            message: message.into(),
        });
    }

    pub fn env(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    /// A secret from the environment (an API key, a credential header): unset or blank is
    /// `None` — unless the walk only inspects, where it stands as [`UNRESOLVED_SECRET`].
    pub fn secret(&self, name: &str) -> Option<String> {
        self.env(name)
            .filter(|v| !v.trim().is_empty())
            .or_else(|| self.inspect.then(|| UNRESOLVED_SECRET.to_string()))
    }
}

/// Join a parent path and a key.
pub fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn describe(v: &DeValue<'_>) -> String {
    match v {
        DeValue::String(s) => format!("string {s:?}"),
        DeValue::Integer(i) => format!("integer {}", i.as_str()),
        DeValue::Float(x) => format!("float {}", x.as_str()),
        DeValue::Boolean(b) => format!("boolean {b}"),
        DeValue::Datetime(d) => format!("datetime {d}"),
        DeValue::Array(_) => "an array".to_string(),
        DeValue::Table(_) => "a table".to_string(),
    }
}

/// A table being read; unread keys are reported by [`Tbl::finish`].
#[derive(Debug)]
pub struct Tbl<'a, 'i> {
    pub path: String,
    pub span: Range<usize>,
    table: &'a DeTable<'i>,
    read: BTreeSet<&'a str>,
}

impl<'a, 'i> Tbl<'a, 'i> {
    pub fn root(table: &'a Spanned<DeTable<'i>>) -> Self {
        Tbl {
            path: String::new(),
            span: table.span(),
            table: table.get_ref(),
            read: BTreeSet::new(),
        }
    }

    /// The value at `key`, marking it known.
    pub fn get(&mut self, key: &'static str) -> Option<Val<'a, 'i>> {
        let (k, v) = self.table.get_key_value(key)?;
        self.read.insert(k.get_ref().as_ref());
        Some(Val {
            path: join(&self.path, key),
            v,
        })
    }

    /// Like [`Tbl::get`] but reports a missing key.
    pub fn require(&mut self, w: &mut Walk<'_>, key: &'static str) -> Option<Val<'a, 'i>> {
        let v = self.get(key);
        if v.is_none() {
            w.report(
                &join(&self.path, key),
                Some(self.span.clone()),
                "is required",
            );
        }
        v
    }

    /// All entries of a free-form table (e.g. `headers`), marking them known.
    pub fn entries(&mut self) -> Vec<(&'a str, Val<'a, 'i>)> {
        self.table
            .iter()
            .map(|(k, v)| {
                let key: &'a str = k.get_ref().as_ref();
                self.read.insert(key);
                (
                    key,
                    Val {
                        path: join(&self.path, key),
                        v,
                    },
                )
            })
            .collect()
    }

    pub fn has(&self, key: &str) -> bool {
        self.table.contains_key(key)
    }

    /// Report every key that no read asked for.
    pub fn finish(self, w: &mut Walk<'_>, known: &[&str], hint: impl Fn(&str) -> Option<String>) {
        for (k, _) in self.table.iter() {
            let key: &str = k.get_ref().as_ref();
            if self.read.contains(key) {
                continue;
            }
            let msg = hint(key).unwrap_or_else(|| match near_miss(key, known) {
                Some(k) => format!("unknown key (did you mean {k}?)"),
                None => format!("unknown key (expected one of: {})", known.join(", ")),
            });
            w.report(&join(&self.path, key), Some(k.span()), msg);
        }
    }
}

/// The known key a typo most likely meant: the closest by edit distance (a transposition counts
/// once), when it is close enough to be a slip rather than another word.
fn near_miss<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let limit = (key.chars().count() / 3).clamp(1, 3);
    known
        .iter()
        .map(|k| (strsim::osa_distance(key, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// One value being read, with its path.
#[derive(Debug, Clone)]
pub struct Val<'a, 'i> {
    pub path: String,
    v: &'a Spanned<DeValue<'i>>,
}

impl<'a, 'i> Val<'a, 'i> {
    pub fn span(&self) -> Range<usize> {
        self.v.span()
    }

    pub fn raw(&self) -> &'a DeValue<'i> {
        self.v.get_ref()
    }

    /// Where this value is, for problems found after the walk (files read later).
    pub fn origin(&self, w: &Walk<'_>) -> Origin {
        Origin {
            path: self.path.clone(),
            line: Some(w.line_of(self.span().start)),
        }
    }

    pub fn bad(&self, w: &mut Walk<'_>, message: impl Into<String>) {
        w.report(&self.path, Some(self.span()), message);
    }

    fn wrong_type(&self, w: &mut Walk<'_>, expected: &str) {
        let got = describe(self.raw());
        self.bad(w, format!("expected {expected}, got {got}"));
    }

    pub fn is_str(&self) -> bool {
        self.raw().is_str()
    }

    pub fn str(&self, w: &mut Walk<'_>) -> Option<&'a str> {
        match self.raw() {
            DeValue::String(s) => Some(s.as_ref()),
            _ => {
                self.wrong_type(w, "a string");
                None
            }
        }
    }

    pub fn int(&self, w: &mut Walk<'_>) -> Option<i64> {
        match self.raw() {
            DeValue::Integer(i) => {
                let digits: String = i.as_str().chars().filter(|c| *c != '_').collect();
                let (neg, body) = match digits.strip_prefix('-') {
                    Some(b) => (true, b),
                    None => (false, digits.strip_prefix('+').unwrap_or(&digits)),
                };
                let body = body
                    .strip_prefix("0x")
                    .or_else(|| body.strip_prefix("0o"))
                    .or_else(|| body.strip_prefix("0b"))
                    .unwrap_or(body);
                match i64::from_str_radix(body, i.radix()) {
                    Ok(v) if neg => Some(-v),
                    Ok(v) => Some(v),
                    Err(_) => {
                        self.bad(w, format!("integer {} is out of range", i.as_str()));
                        None
                    }
                }
            }
            _ => {
                self.wrong_type(w, "an integer");
                None
            }
        }
    }

    /// A float; integers are accepted.
    pub fn float(&self, w: &mut Walk<'_>) -> Option<f64> {
        match self.raw() {
            DeValue::Float(x) => {
                let s: String = x.as_str().chars().filter(|c| *c != '_').collect();
                match s.parse::<f64>() {
                    Ok(v) => Some(v),
                    Err(_) => {
                        self.wrong_type(w, "a number");
                        None
                    }
                }
            }
            DeValue::Integer(_) => self.int(w).map(|i| i as f64),
            _ => {
                self.wrong_type(w, "a number");
                None
            }
        }
    }

    pub fn bool(&self, w: &mut Walk<'_>) -> Option<bool> {
        match self.raw() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(w, "a boolean");
                None
            }
        }
    }

    pub fn table(&self, w: &mut Walk<'_>) -> Option<Tbl<'a, 'i>> {
        match self.raw() {
            DeValue::Table(t) => Some(Tbl {
                path: self.path.clone(),
                span: self.span(),
                table: t,
                read: BTreeSet::new(),
            }),
            _ => {
                self.wrong_type(w, "a table");
                None
            }
        }
    }

    pub fn array(&self, w: &mut Walk<'_>) -> Option<Vec<Val<'a, 'i>>> {
        match self.raw() {
            DeValue::Array(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| Val {
                        path: format!("{}[{i}]", self.path),
                        v,
                    })
                    .collect(),
            ),
            _ => {
                self.wrong_type(w, "an array");
                None
            }
        }
    }

    /// An integer within `[min, max]`.
    pub fn int_in(&self, w: &mut Walk<'_>, min: i64, max: i64) -> Option<i64> {
        let v = self.int(w)?;
        if v < min {
            let msg = if min == 1 {
                format!("must be > 0 (got {v})")
            } else {
                format!("must be >= {min} (got {v})")
            };
            self.bad(w, msg);
            None
        } else if v > max {
            self.bad(w, format!("must be <= {max} (got {v})"));
            None
        } else {
            Some(v)
        }
    }

    /// A finite float with `lo < v` (or `lo <= v` when `inclusive`) and `v <= hi`.
    pub fn float_in(&self, w: &mut Walk<'_>, lo: f64, inclusive: bool, hi: f64) -> Option<f64> {
        let v = self.float(w)?;
        let low_ok = if inclusive { v >= lo } else { v > lo };
        if !v.is_finite() {
            self.bad(w, format!("must be a finite number (got {v})"));
            None
        } else if !low_ok {
            let op = if inclusive { ">=" } else { ">" };
            self.bad(w, format!("must be {op} {lo} (got {v})"));
            None
        } else if v > hi {
            self.bad(w, format!("must be <= {hi} (got {v})"));
            None
        } else {
            Some(v)
        }
    }

    /// A duration string like `"250ms"`, `"30s"`, `"1h 30m"`; must be > 0.
    pub fn duration(&self, w: &mut Walk<'_>) -> Option<Duration> {
        let s = self.str(w)?;
        match humantime::parse_duration(s) {
            Ok(d) if d.is_zero() => {
                self.bad(w, format!("must be > 0 (got {s:?})"));
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.bad(
                    w,
                    format!("invalid duration {s:?}: {e} (examples: \"500ms\", \"30s\", \"2h\")"),
                );
                None
            }
        }
    }

    /// A duration string that may be zero (`"0s"`).
    pub fn duration_or_zero(&self, w: &mut Walk<'_>) -> Option<Duration> {
        let s = self.str(w)?;
        match humantime::parse_duration(s) {
            Ok(d) => Some(d),
            Err(e) => {
                self.bad(
                    w,
                    format!("invalid duration {s:?}: {e} (examples: \"0s\", \"50us\", \"20ms\")"),
                );
                None
            }
        }
    }

    /// A string that is one of `allowed`.
    pub fn one_of(&self, w: &mut Walk<'_>, allowed: &[&'static str]) -> Option<&'static str> {
        let s = self.str(w)?;
        match allowed.iter().find(|a| **a == s) {
            Some(a) => Some(a),
            None => {
                let list: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
                self.bad(w, format!("must be one of {} (got {s:?})", list.join(", ")));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_near_miss_is_named_and_a_stranger_is_not() {
        let known = ["base_url", "model", "max_in_flight", "name"];
        assert_eq!(near_miss("base_ur", &known), Some("base_url"));
        assert_eq!(near_miss("base_ulr", &known), Some("base_url"));
        assert_eq!(near_miss("modle", &known), Some("model"));
        assert_eq!(near_miss("max_inflight", &known), Some("max_in_flight"));
        assert_eq!(near_miss("temperature", &known), None);
        assert_eq!(near_miss("x", &known), None);
    }
}
