//! The gate parser on arbitrary text: an error message or a gate, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_soak::gate::Gate;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = text.parse::<Gate>();
    }
});
