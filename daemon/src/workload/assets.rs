//! The workload's part of the preparation step: after the config is validated, read every file
//! it names for the workload — each target's tokenizer (loaded once per distinct file; the
//! embedded `o200k_base` only when some target has none), each scenario's corpus, dataset and
//! empirical length files, and a replayed trace (scanned once: its summary) — into [`Assets`]. Every problem is reported at the config path and
//! line that named the file, all of them at once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::dataset::Dataset;
use super::tokenizer::HfTokenizer;
use super::trace::TraceSummary;
use super::{Tokenizer, default_tokenizer};
use crate::config::trace::TraceSpec;
use crate::config::{Config, Corpus, DistKind, FileRef, LengthDist, Problem};

/// Smallest corpus file accepted: enough text to cut distinct prompts from.
const MIN_CORPUS_BYTES: usize = 4096;

/// What the workload's files hold, loaded.
#[derive(Debug, Clone)]
pub struct Assets {
    /// Per target (index of `config.targets`).
    pub tokenizers: Vec<Arc<dyn Tokenizer>>,
    /// Per scenario (index of `config.scenarios`).
    pub scenarios: Vec<ScenarioAssets>,
    /// `load.trace`'s summary, from one pass over the file.
    pub trace: Option<Arc<TraceSummary>>,
}

/// One scenario's loaded files.
#[derive(Debug, Clone, Default)]
pub struct ScenarioAssets {
    /// A corpus file's text, whitespace normalised (`None`: the embedded corpus).
    pub corpus: Option<Arc<String>>,
    pub dataset: Option<Arc<Dataset>>,
    /// Values of empirical length files: input, output, and session turns.
    pub input: Option<Arc<Vec<u32>>>,
    pub output: Option<Arc<Vec<u32>>>,
    pub turns: Option<Arc<Vec<u32>>>,
}

impl Assets {
    /// Read everything `config` names; every problem at its config path.
    pub fn load(config: &Config) -> Result<Assets, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut loaded: HashMap<PathBuf, Arc<dyn Tokenizer>> = HashMap::new();
        let mut default: Option<Arc<dyn Tokenizer>> = None;
        let mut tokenizers = Vec::with_capacity(config.targets.len());
        for t in &config.targets {
            let tok = match &t.tokenizer {
                None => Arc::clone(default.get_or_insert_with(default_tokenizer)),
                Some(f) => match loaded.get(&f.file) {
                    Some(tok) => Arc::clone(tok),
                    None => match HfTokenizer::from_file(&f.file) {
                        Ok(tok) => {
                            let tok: Arc<dyn Tokenizer> = Arc::new(tok);
                            loaded.insert(f.file.clone(), Arc::clone(&tok));
                            tok
                        }
                        Err(e) => {
                            problems.push(f.at.problem(format!(
                                "cannot load tokenizer {}: {e}",
                                f.file.display()
                            )));
                            // Keep going with the default, so the scenarios are checked too.
                            Arc::clone(default.get_or_insert_with(default_tokenizer))
                        }
                    },
                },
            };
            tokenizers.push(tok);
        }
        let mut scenarios = Vec::with_capacity(config.scenarios.len());
        for s in &config.scenarios {
            let mut a = ScenarioAssets::default();
            if let Corpus::File(f) = &s.corpus {
                a.corpus = corpus(f).map_err(|p| problems.push(p)).ok();
            }
            let mut lengths = |d: Option<&LengthDist>| match d.map(|d| &d.dist) {
                Some(DistKind::Empirical(e)) => {
                    empirical(&e.file).map_err(|p| problems.push(p)).ok()
                }
                _ => None,
            };
            a.input = lengths(s.input_tokens.as_ref());
            a.output = lengths(Some(s.output_tokens()));
            a.turns = lengths(s.session.as_ref().map(|x| &x.turns));
            if let Some(spec) = &s.dataset {
                // Loaded with the scenario's target's tokenizer (length filter, reply lengths).
                let tok = &tokenizers[s.target.index];
                match Dataset::load(spec.clone(), tok.as_ref(), config.seed) {
                    Ok(d) => {
                        if d.skipped_bad > 0 || d.skipped_filter > 0 {
                            tracing::warn!(file = %spec.file.file.display(), entries = d.len(), bad = d.skipped_bad, filtered = d.skipped_filter, "dataset entries skipped");
                        }
                        a.dataset = Some(Arc::new(d));
                    }
                    Err(lines) => {
                        problems.extend(lines.into_iter().map(|l| spec.file.at.problem(l)));
                    }
                }
            }
            scenarios.push(a);
        }
        let trace = config
            .load
            .trace
            .as_ref()
            .and_then(|spec| trace(spec).map_err(|p| problems.extend(p)).ok());
        // The scenarios measure every prompt: their tokenizers' tables are built now, before the
        // run, never in the first request's time (a canary alone builds none).
        for s in &config.scenarios {
            if let Some(tok) = tokenizers.get(s.target.index)
                && !tok.ready()
            {
                tok.count("");
            }
        }
        if problems.is_empty() {
            Ok(Assets {
                tokenizers,
                scenarios,
                trace,
            })
        } else {
            Err(problems)
        }
    }

    /// The tokenizer of a request scope: a scenario's target's, or (one past the scenarios)
    /// the canary's.
    pub fn tokenizer_for(&self, config: &Config, scope: usize) -> Arc<dyn Tokenizer> {
        let target = match config.scenarios.get(scope) {
            Some(s) => s.target.index,
            None => config.canary.as_ref().map_or(0, |c| c.target.index),
        };
        self.tokenizers
            .get(target)
            .cloned()
            .unwrap_or_else(default_tokenizer)
    }
}

/// A trace, scanned: refused when it cannot be read, holds no row, or holds a bad row (each
/// named with its line, the first few of them).
fn trace(spec: &TraceSpec) -> Result<Arc<TraceSummary>, Vec<Problem>> {
    let f = &spec.file;
    let s =
        super::trace::scan(&f.file, spec.format).map_err(|e| vec![f.at.problem(e.to_string())])?;
    let mut problems: Vec<Problem> = s
        .bad
        .iter()
        .map(|(line, reason)| {
            f.at.problem(format!("{} line {line}: {reason}", f.file.display()))
        })
        .collect();
    if s.bad_rows > s.bad.len() as u64 {
        problems.push(f.at.problem(format!(
            "{}: {} more bad rows",
            f.file.display(),
            s.bad_rows - s.bad.len() as u64
        )));
    }
    if s.rows == 0 && problems.is_empty() {
        problems.push(f.at.problem(format!("{} holds no rows", f.file.display())));
    }
    if problems.is_empty() {
        Ok(Arc::new(s))
    } else {
        Err(problems)
    }
}

fn read(f: &FileRef) -> Result<String, Problem> {
    std::fs::read_to_string(&f.file).map_err(|e| {
        f.at.problem(format!("cannot read {}: {e}", f.file.display()))
    })
}

/// A corpus file, whitespace normalised (prompts are cut at byte offsets, so every cut starts
/// cleanly).
fn corpus(f: &FileRef) -> Result<Arc<String>, Problem> {
    let text = read(f)?;
    if text.trim().len() < MIN_CORPUS_BYTES {
        return Err(f.at.problem(format!(
            "{} holds less than {MIN_CORPUS_BYTES} bytes of text",
            f.file.display()
        )));
    }
    Ok(Arc::new(
        text.split_whitespace().collect::<Vec<_>>().join(" "),
    ))
}

/// Token counts from a file, one per line (`#` comments and blank lines skipped); every bad
/// line is reported with its number.
fn empirical(f: &FileRef) -> Result<Arc<Vec<u32>>, Problem> {
    let text = read(f)?;
    parse_lengths(&text, &f.file)
        .map(Arc::new)
        .map_err(|e| f.at.problem(e))
}

fn parse_lengths(text: &str, path: &Path) -> Result<Vec<u32>, String> {
    let mut values = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        match line.parse::<u32>() {
            Ok(n) if n > 0 => values.push(n),
            _ => bad.push(i + 1),
        }
    }
    if !bad.is_empty() {
        let shown: Vec<String> = bad.iter().take(10).map(ToString::to_string).collect();
        return Err(format!(
            "{}: not a positive integer on line(s) {}{}",
            path.display(),
            shown.join(", "),
            if bad.len() > 10 { ", ..." } else { "" }
        ));
    }
    if values.is_empty() {
        return Err(format!("{} holds no token counts", path.display()));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_files_report_every_bad_line() {
        let p = Path::new("l.txt");
        assert_eq!(parse_lengths("# c\n12\n\n7 # x\n", p), Ok(vec![12, 7]));
        assert_eq!(
            parse_lengths("1\nx\n0\n3\n", p),
            Err("l.txt: not a positive integer on line(s) 2, 3".to_string())
        );
        assert_eq!(
            parse_lengths("# only\n", p),
            Err("l.txt holds no token counts".to_string())
        );
    }
}
