//! The config's shape, from its serde types, with every problem reported at once. A section is
//! deserialized (`serde_path_to_error` names where it failed); each failure becomes a
//! [`Problem`] at its dotted path — an unknown key is dropped, a value of the wrong shape is
//! stood in for by a placeholder that fits — and the section is deserialized again, until it
//! fits. The problems read as `check-config` has always said them ("expected an integer, got
//! string \"many\"", "unknown key (did you mean seed?)", `must be one of "open", "closed"`), and
//! [`Lines`] gives each its line in the file.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;
use toml::Value;
use toml::de::{DeTable, DeValue};

use super::check::Problem;

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn render(base: &str, segs: &[Seg]) -> String {
    let mut out = base.to_string();
    for s in segs {
        match s {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Whether `path` is `root` or lies under it (`a.b` is under `a`, `a[0]` too; `ab` is not).
pub(super) fn under(path: &str, root: &str) -> bool {
    root.is_empty()
        || path
            .strip_prefix(root)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// Values that stand in for one that did not fit, so the rest of its section is still read:
/// one of them fits whatever was asked (a duration, a count, a rate, a flag, a list, a table).
fn placeholders() -> [Value; 6] {
    [
        Value::String("1s".into()),
        Value::Integer(1),
        Value::Float(1.0),
        Value::Boolean(false),
        Value::Array(Vec::new()),
        Value::Table(toml::Table::new()),
    ]
}

/// The first of the names a message says a value must be one of (serde's "unknown variant",
/// or our own `must be one of "a", "b" (got "x")`).
fn first_expected(message: &str) -> Option<&str> {
    if let Some(rest) = message.strip_prefix("must be one of \"") {
        return rest.split('"').next();
    }
    let rest = message.strip_prefix("unknown variant `")?;
    let (_, expected) = rest.split_once(", expected ")?;
    expected.split('`').nth(1)
}

fn get_mut<'v>(root: &'v mut Value, segs: &[Seg]) -> Option<&'v mut Value> {
    segs.iter().try_fold(root, |v, s| match (s, v) {
        (Seg::Key(k), Value::Table(t)) => t.get_mut(k),
        (Seg::Index(i), Value::Array(a)) => a.get_mut(*i),
        _ => None,
    })
}

/// Put `value` at `segs` (a missing key is added); false when its parent is not there.
fn set(root: &mut Value, segs: &[Seg], value: Value) -> bool {
    let Some((last, parent)) = segs.split_last() else {
        return false;
    };
    match (last, get_mut(root, parent)) {
        (Seg::Key(k), Some(Value::Table(t))) => {
            t.insert(k.clone(), value);
            true
        }
        (Seg::Index(i), Some(Value::Array(a))) if *i < a.len() => {
            a[*i] = value;
            true
        }
        _ => false,
    }
}

fn remove(root: &mut Value, segs: &[Seg]) -> bool {
    let Some((Seg::Key(k), parent)) = segs.split_last() else {
        return false;
    };
    match get_mut(root, parent) {
        Some(Value::Table(t)) => t.remove(k).is_some(),
        _ => false,
    }
}

/// Deserialize `value` (the section at `base`) as a `T`, adding every shape problem to
/// `problems`. `None` only when no placeholder could make it fit (a problem is reported then).
pub(super) fn shape<T: DeserializeOwned>(
    mut value: Value,
    base: &str,
    problems: &mut Vec<Problem>,
    hint: &dyn Fn(&str, &str) -> Option<String>,
) -> Option<T> {
    // Where a placeholder stands, and which of them it is.
    let mut standing: HashMap<String, usize> = HashMap::new();
    let mut reported: Vec<String> = Vec::new();
    for _ in 0..4096 {
        let err = match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(t) => return Some(t),
            Err(e) => e,
        };
        let mut segs: Vec<Seg> = Vec::new();
        for s in err.path() {
            match s {
                Segment::Map { key } => segs.push(Seg::Key(key.clone())),
                Segment::Seq { index } => segs.push(Seg::Index(*index)),
                Segment::Enum { .. } => {}
                Segment::Unknown => break,
            }
        }
        let raw = err.inner().message().to_string();
        if let Some(field) = missing_field(&raw) {
            segs.push(Seg::Key(field.to_string()));
        }
        let path = render(base, &segs);
        let known = reported.iter().any(|r| under(&path, r) || under(r, &path));
        if let Some((key, expected)) = unknown_field(&raw) {
            if !known {
                let message = hint(&path, key).unwrap_or_else(|| unknown_key(key, &expected));
                problems.push(problem(path.clone(), message));
            }
            if remove(&mut value, &segs) {
                continue;
            }
            return None;
        }
        if !known {
            let message = if missing_field(&raw).is_some() {
                "is required".to_string()
            } else {
                plain(&raw)
            };
            problems.push(problem(path.clone(), message));
            reported.push(path.clone());
        }
        // A value the message names (an enum's first variant) fits; else the next of the
        // general stand-ins not yet tried here.
        let stand_in = match first_expected(&raw) {
            Some(v) => Value::String(v.to_string()),
            None => {
                let tried = standing.entry(path).or_insert(0);
                let v = placeholders().into_iter().nth(*tried)?;
                *tried += 1;
                v
            }
        };
        if segs.is_empty() || !set(&mut value, &segs, stand_in) {
            return None;
        }
    }
    None
}

fn problem(path: String, message: String) -> Problem {
    Problem {
        path,
        line: None,
        message,
    }
}

fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.strip_suffix('`')
}

/// `unknown field `x`, expected one of `a`, `b``: the key and the keys that were expected.
fn unknown_field(message: &str) -> Option<(&str, Vec<&str>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (key, expected) = rest.split_once('`')?;
    Some((key, backticked(expected)))
}

fn backticked(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

/// The message for a key no type has: the near miss, or the keys that are.
pub(super) fn unknown_key(key: &str, known: &[&str]) -> String {
    match near_miss(key, known) {
        Some(k) => format!("unknown key (did you mean {k}?)"),
        None => format!("unknown key (expected one of: {})", known.join(", ")),
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

/// serde's wording, as a person reads a config: "expected an integer, got string \"many\"",
/// `must be one of "open", "closed" (got "x")`, "must be >= 0 (got -1)". A message of our own
/// (a duration that does not parse) is kept as it is.
fn plain(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("invalid type: ")
        && let Some((got, expected)) = rest.split_once(", expected ")
    {
        return format!(
            "expected {}, got {}",
            expected_kind(expected),
            got_kind(got)
        );
    }
    if let Some(rest) = message.strip_prefix("unknown variant `")
        && let Some((got, expected)) = rest.split_once("`, expected ")
    {
        let names: Vec<String> = backticked(expected)
            .iter()
            .map(|n| format!("{n:?}"))
            .collect();
        return format!("must be one of {} (got {got:?})", names.join(", "));
    }
    if let Some(rest) = message.strip_prefix("invalid value: integer `")
        && let Some((n, expected)) = rest.split_once("`, expected ")
    {
        return match n.starts_with('-') && expected.starts_with('u') {
            true => format!("must be >= 0 (got {n})"),
            false => format!("integer {n} is out of range"),
        };
    }
    message.to_string()
}

fn expected_kind(expected: &str) -> &str {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize" => {
            "an integer"
        }
        "f32" | "f64" => "a number",
        "a boolean" | "bool" => "a boolean",
        "a string" | "a borrowed string" | "string" => "a string",
        "a sequence" | "sequence" => "an array",
        e if e.starts_with("struct ") || e == "a map" || e == "map" => "a table",
        e => e,
    }
}

fn got_kind(got: &str) -> String {
    let inner = |prefix: &str| {
        got.strip_prefix(prefix)
            .map(|r| r.trim_matches('`').to_string())
    };
    if got.starts_with("string ") {
        return got.to_string();
    }
    if let Some(n) = inner("integer ") {
        return format!("integer {n}");
    }
    if let Some(x) = inner("floating point ") {
        return format!("float {x}");
    }
    if let Some(b) = inner("boolean ") {
        return format!("boolean {b}");
    }
    match got {
        "map" => "a table".into(),
        "sequence" => "an array".into(),
        other => other.to_string(),
    }
}

/// Each path of a document with where its key and its value start, to put a problem found by
/// path (after the document was read) on its line, and problems in the order of the file.
#[derive(Debug, Default)]
pub(super) struct Lines {
    at: HashMap<String, (usize, usize)>,
    starts: Vec<usize>,
}

impl Lines {
    pub(super) fn index(doc: &DeTable<'_>, text: &str) -> Lines {
        let mut lines = Lines {
            at: HashMap::new(),
            starts: std::iter::once(0)
                .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                .collect(),
        };
        lines.table(doc, "");
        lines
    }

    fn table(&mut self, t: &DeTable<'_>, path: &str) {
        for (k, v) in t.iter() {
            let p = render(path, &[Seg::Key(k.get_ref().to_string())]);
            self.value(v.get_ref(), &p, (k.span().start, v.span().start));
        }
    }

    fn value(&mut self, v: &DeValue<'_>, path: &str, at: (usize, usize)) {
        self.at.insert(path.to_string(), at);
        match v {
            DeValue::Table(t) => self.table(t, path),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let o = item.span().start;
                    self.value(item.get_ref(), &format!("{path}[{i}]"), (o, o));
                }
            }
            _ => {}
        }
    }

    /// Where `path` starts (its key, for an unknown key), else the nearest table above it.
    pub(super) fn offset(&self, path: &str, key: bool) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some((k, v)) = self.at.get(p) {
                return Some(if key && p == path { *k } else { *v });
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }

    /// Where a 1-based line starts.
    pub(super) fn offset_of_line(&self, line: usize) -> Option<usize> {
        self.starts.get(line.checked_sub(1)?).copied()
    }

    /// The 1-based line of an offset.
    pub(super) fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset)
    }

    /// The line of `path`, as [`Lines::offset`] finds it.
    pub(super) fn of(&self, path: &str, key: bool) -> Option<usize> {
        self.offset(path, key).map(|o| self.line(o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // read by Debug only: the test is about the problems
    struct Inner {
        name: String,
        #[serde(default)]
        rules: Vec<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        Open,
        Closed,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // read by Debug only: the test is about the problems
    struct Doc {
        #[serde(default)]
        seed: u64,
        #[serde(default)]
        max_in_flight: Option<usize>,
        #[serde(default)]
        mode: Option<Mode>,
        #[serde(default)]
        target: Vec<Inner>,
    }

    fn problems(text: &str) -> (Option<Doc>, Vec<String>) {
        let v: toml::Table = toml::from_str(text).unwrap();
        let mut out = Vec::new();
        let doc = shape::<Doc>(Value::Table(v), "", &mut out, &|_, _| None);
        (doc, out.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn every_shape_problem_is_reported_in_one_pass() {
        let (doc, got) = problems(
            "sed = 1\nseed = -1\nmax_in_flight = \"many\"\nmode = \"bursty\"\n\
             [[target]]\nname = 2\nrules = [\"a\", 3, \"b\"]\n[[target]]\nnam = \"x\"\n",
        );
        assert_eq!(
            got,
            [
                "max_in_flight: expected an integer, got string \"many\"",
                "mode: must be one of \"open\", \"closed\" (got \"bursty\")",
                "sed: unknown key (did you mean seed?)",
                "seed: must be >= 0 (got -1)",
                "target[0].name: expected a string, got integer 2",
                "target[0].rules[1]: expected a string, got integer 3",
                "target[1].nam: unknown key (did you mean name?)",
                "target[1].name: is required",
            ]
        );
        // The placeholders let the rest be read; a document with problems is never used.
        let doc = doc.unwrap();
        assert_eq!(doc.target[0].rules.len(), 3);
        assert_eq!(doc.mode, Some(Mode::Open));
    }

    #[test]
    fn a_clean_document_has_no_problems() {
        let (doc, got) = problems("seed = 3\n[[target]]\nname = \"a\"\n");
        assert!(got.is_empty(), "{got:?}");
        assert_eq!(doc.unwrap().seed, 3);
    }

    #[test]
    fn lines_follow_paths_and_fall_back_to_the_table() {
        let text = "seed = 1\n\n[load]\nmax_in_flight = 0\n\n[[target]]\nname = \"a\"\n";
        let doc = DeTable::parse(text).unwrap();
        let lines = Lines::index(doc.get_ref(), text);
        assert_eq!(lines.of("seed", false), Some(1));
        assert_eq!(lines.of("load.max_in_flight", false), Some(4));
        assert_eq!(lines.of("target[0].name", false), Some(7));
        assert_eq!(lines.of("load.nothing", false), lines.of("load", false));
        assert_eq!(lines.of("nowhere", false), None);
    }

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

    #[test]
    fn paths_nest_under_their_parents_only() {
        assert!(under("a.b", "a"));
        assert!(under("a[0].c", "a"));
        assert!(under("a", "a"));
        assert!(!under("ab", "a"));
        assert!(under("x", ""));
    }
}
