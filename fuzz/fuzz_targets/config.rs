//! The config loader on arbitrary text: every problem is reported, never a panic; a config that
//! loads renders (print-config) into text that loads again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_soak::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let env = |k: &str| (k == "KEY").then(|| "v".to_string());
    match Config::parse(text, "fuzz", &env) {
        Ok(c) => {
            let printed = c.to_toml();
            if let Err(e) = Config::parse(&printed, "printed", &env) {
                // Secrets are redacted in print-config; anything else must load again.
                let text = e.to_string();
                assert!(text.contains("redacted") || text.contains("inline"), "{printed}\n{text}");
            }
        }
        Err(e) => {
            assert!(!e.problems().is_empty() || matches!(e, llm_soak::config::ConfigError::Read { .. }));
        }
    }
});
