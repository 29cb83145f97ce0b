//! The `llm-soak` binary: argv -> [`llm_soak::cli`] -> exit code, nothing else.

fn main() -> std::process::ExitCode {
    llm_soak::cli::main(std::env::args_os())
}
