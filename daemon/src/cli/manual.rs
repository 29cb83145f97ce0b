//! What a package installs beside the binary: shell completion scripts (`llm-soak completions
//! SHELL`) and the manual page (`llm-soak man`), generated from the command-line definition so
//! they never drift from it.

use super::{Cli, exit};

/// The completion script for `shell` on stdout. Generated in memory first: clap_complete
/// panics on a write error, and a closed pipe (`completions bash | head`) is not one worth a
/// panic — the output is simply not wanted any more.
pub(super) fn completions(shell: clap_complete::Shell) -> Result<u8, u8> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "llm-soak", &mut out);
    use std::io::Write as _;
    let _ = std::io::stdout().write_all(&out);
    Ok(exit::OK)
}

/// The manual page (roff) on stdout.
pub(super) fn man() -> Result<u8, u8> {
    let cmd = <Cli as clap::CommandFactory>::command();
    let mut out = Vec::new();
    match clap_mangen::Man::new(cmd).render(&mut out) {
        Ok(()) => {
            use std::io::Write as _;
            let _ = std::io::stdout().write_all(&out);
            Ok(exit::OK)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(exit::SOFTWARE)
        }
    }
}
