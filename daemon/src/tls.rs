//! Process-wide TLS set-up: rustls' `ring` crypto provider, installed once before any HTTP client
//! (the target clients, the OTLP exporter) is built — rustls panics without one.

use std::sync::Once;

/// Install the process-wide rustls crypto provider (ring) once.
pub fn init_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Fails only if another provider was installed first, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
