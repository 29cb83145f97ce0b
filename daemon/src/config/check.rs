//! The semantic pass over a config that has its shape: ranges, names, cross-references, what
//! applies to what and secrets from the environment — each problem at its dotted path, none
//! piled on a value whose shape was already wrong. The problems and their lines are the
//! config's [`Problem`]s.

use std::fmt;

use super::Secret;
use super::de::{Lines, under};

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

/// What an unset secret stands for while a config is only inspected (never sent anywhere;
/// `print-config` shows the variable's name, and redacts values anyway).
pub const UNRESOLVED_SECRET: &str = "<unset: not needed to inspect>";

/// The problems found so far, and what the checks may read.
pub struct Check<'e> {
    problems: Vec<Problem>,
    /// Where a value had the wrong shape: a placeholder stands there, so nothing at, under or
    /// above it is checked again.
    shaped: Vec<String>,
    env: &'e dyn Fn(&str) -> Option<String>,
    /// For a command that sends nothing (`plan`, `print-config`): a secret's variable may be
    /// unset, and is then only named, never needed.
    inspect: bool,
    lines: Lines,
}

impl fmt::Debug for Check<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("problems", &self.problems)
            .finish_non_exhaustive()
    }
}

impl<'e> Check<'e> {
    pub(super) fn new(
        lines: Lines,
        shape_problems: Vec<Problem>,
        env: &'e dyn Fn(&str) -> Option<String>,
        inspect: bool,
    ) -> Self {
        Check {
            shaped: shape_problems.iter().map(|p| p.path.clone()).collect(),
            problems: shape_problems,
            env,
            inspect,
            lines,
        }
    }

    /// A problem at `path` — unless a shape problem already stands there (or under or above).
    pub fn bad(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let path = path.into();
        if self
            .shaped
            .iter()
            .any(|s| under(&path, s) || under(s, &path))
        {
            return;
        }
        self.problems.push(Problem {
            path,
            line: None,
            message: message.into(),
        });
    }

    /// No problem at or under `path`: its value is what the file says, and checked.
    pub fn fine(&self, path: &str) -> bool {
        !self.problems.iter().any(|p| under(&p.path, path))
    }

    /// Where `path` is in the file, for the files the preparation step reads later.
    pub fn origin(&self, path: &str) -> Origin {
        Origin {
            path: path.to_string(),
            line: self.lines.of(path, false),
        }
    }

    pub fn env(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    /// The secret in env var `var` (named at `path`), trimmed: unset or blank is a problem —
    /// unless the config is only inspected, where it stands as [`UNRESOLVED_SECRET`].
    pub fn secret(&mut self, path: &str, var: &str) -> Option<Secret> {
        let value = self
            .env(var)
            .filter(|v| !v.trim().is_empty())
            .or_else(|| self.inspect.then(|| UNRESOLVED_SECRET.to_string()));
        if value.is_none() {
            self.bad(
                path,
                format!("environment variable {var} is not set or empty"),
            );
        }
        value.map(|v| Secret::new(v.trim().to_string()))
    }

    /// An integer in `[min, max]`.
    pub fn int_in(&mut self, path: &str, v: impl Into<i128>, min: i128, max: i128) -> bool {
        let v = v.into();
        let why = if v < min && min == 1 {
            format!("must be > 0 (got {v})")
        } else if v < min {
            format!("must be >= {min} (got {v})")
        } else if v > max {
            format!("must be <= {max} (got {v})")
        } else {
            return true;
        };
        self.bad(path, why);
        false
    }

    /// A finite number with `lo < v` (or `lo <= v` when `inclusive`) and `v <= hi`.
    pub fn float_in(&mut self, path: &str, v: f64, lo: f64, inclusive: bool, hi: f64) -> bool {
        let low_ok = if inclusive { v >= lo } else { v > lo };
        let why = if !v.is_finite() {
            format!("must be a finite number (got {v})")
        } else if !low_ok {
            format!(
                "must be {} {lo} (got {v})",
                if inclusive { ">=" } else { ">" }
            )
        } else if v > hi {
            format!("must be <= {hi} (got {v})")
        } else {
            return true;
        };
        self.bad(path, why);
        false
    }

    /// An optional number checked as [`Check::float_in`].
    pub fn opt_float(&mut self, path: &str, v: Option<f64>, lo: f64, inclusive: bool, hi: f64) {
        if let Some(v) = v {
            self.float_in(path, v, lo, inclusive, hi);
        }
    }

    /// A name used as a label value: short, and only `[A-Za-z0-9_.:-]`.
    pub fn label(&mut self, path: &str, s: &str) -> bool {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c));
        if !ok {
            self.bad(
                path,
                format!("must be 1-64 characters of [A-Za-z0-9_.:-] (got {s:?})"),
            );
        }
        ok
    }

    /// Text that must not be empty (or only spaces).
    pub fn filled(&mut self, path: &str, s: &str) -> bool {
        if s.trim().is_empty() {
            self.bad(path, "must not be empty");
        }
        !s.trim().is_empty()
    }

    /// An `IP:port` address.
    pub fn socket_addr(&mut self, path: &str, s: &str) -> Option<std::net::SocketAddr> {
        let parsed = s.parse().ok();
        if parsed.is_none() {
            self.bad(
                path,
                format!("must be an IP:port address such as \"127.0.0.1:9464\" (got {s:?})"),
            );
        }
        parsed
    }

    /// The problems, each on its line, in the order of the file; `Ok` when there are none.
    pub fn finish(self) -> Result<(), Vec<Problem>> {
        let Check {
            problems, lines, ..
        } = self;
        if problems.is_empty() {
            return Ok(());
        }
        // In the order of the file: by where each problem's value starts (a problem of the
        // preparation step, with a line and no path in this document, at its line).
        let mut placed: Vec<(usize, Problem)> = problems
            .into_iter()
            .map(|mut p| {
                let offset = match p.line {
                    Some(l) => lines.offset_of_line(l),
                    None => lines.offset(&p.path, p.message.starts_with("unknown key")),
                };
                p.line = p.line.or_else(|| offset.map(|o| lines.line(o)));
                (offset.unwrap_or(usize::MAX), p)
            })
            .collect();
        placed.sort_by_key(|(o, _)| *o);
        let problems: Vec<Problem> = placed.into_iter().map(|(_, p)| p).collect();
        Err(problems)
    }
}
