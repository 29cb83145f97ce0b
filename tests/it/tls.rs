//! TLS and proxies end to end, against TLS listeners made here: a CA, server certificates
//! (one for `llmsoak.test` only, one expired) and a client certificate generated with `rcgen`,
//! TLS terminators in front of the simulator (one requiring a client certificate) and an HTTP
//! CONNECT proxy that records what it tunnels. Every way a handshake fails is a request error
//! of type `tls`; every way it is configured right succeeds.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

use crate::common::*;

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        Ca {
            issuer: CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    /// (certificate PEM, key PEM) for `names`, valid until `not_after` (year) when given.
    fn leaf(&self, names: &[&str], client: bool, expired: bool) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut p = CertificateParams::new(names).unwrap();
        p.distinguished_name
            .push(DnType::CommonName, "llm-soak test");
        p.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        if expired {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

fn der_chain(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A TLS terminator on 127.0.0.1 forwarding each connection to `upstream`; with `client_ca`, it
/// requires a client certificate that CA issued.
fn terminator(cert: &str, key: &str, client_ca: Option<&Ca>, upstream: SocketAddr) -> SocketAddr {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca.issuer.der().clone()).unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(
            der_chain(cert),
            PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    serve(move |tcp| {
        let acceptor = acceptor.clone();
        async move {
            // A failed handshake just drops the connection, as a server does.
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                return;
            };
            if let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await {
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            }
        }
    })
}

/// An HTTP CONNECT proxy that tunnels every request to `to` and records the authorities asked.
fn connect_proxy(to: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let addr = serve(move |mut tcp| {
        let log = Arc::clone(&log);
        async move {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                if tcp.read_exact(&mut byte).await.is_err() {
                    return;
                }
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let Some(authority) = head
                .strip_prefix("CONNECT ")
                .and_then(|r| r.split_whitespace().next())
            else {
                let _ = tcp
                    .write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                    .await;
                return;
            };
            log.lock().unwrap().push(authority.to_string());
            let Ok(mut up) = tokio::net::TcpStream::connect(to).await else {
                return;
            };
            if tcp
                .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                .await
                .is_ok()
            {
                let _ = tokio::io::copy_bidirectional(&mut tcp, &mut up).await;
            }
        }
    });
    (addr, seen)
}

/// Accept connections on 127.0.0.1:0 on a thread of its own, each handled by `handle`.
fn serve<F, Fut>(handle: F) -> SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(handle(tcp));
            }
        });
    });
    addr
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// `llm-soak run` for 2 s on `config` with `env`: (exit code, stderr, report).
fn run(config: &str, env: &[(&str, &str)]) -> (Option<i32>, String, serde_json::Value) {
    let (code, _, stderr, report) = bounded_run_logged(config, &["--duration", "2s"], env);
    (code, stderr, report)
}

fn target(name: &str, port: u16, extra: &str) -> String {
    format!(
        "[[target]]\nname = \"{name}\"\nbase_url = \"https://127.0.0.1:{port}\"\nmodel = \"m\"\n\
         connect_timeout = \"5s\"\nrequest_timeout = \"10s\"\n{extra}\n\n\
         [[scenario]]\nname = \"{name}\"\ntarget = \"{name}\"\ninput_tokens = 8\noutput_tokens = 4\n\n"
    )
}

const LOAD: &str = "seed = 3\n[load]\narrival = \"constant\"\nmax_in_flight = 64\n\
                    preset = { name = \"steady\", rate = 60 }\n\n";

#[test]
fn every_tls_failure_is_a_tls_error_and_every_right_configuration_succeeds() {
    let (_sim, sim) = simulator(&["--ttft", "2ms", "--itl", "1ms"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = Ca::new("llm-soak test CA");
    let other = Ca::new("some other CA");
    // The server's certificate names llmsoak.test only: reaching it as 127.0.0.1 needs
    // server_name.
    let (cert, key) = ca.leaf(&["llmsoak.test"], false, false);
    let (old_cert, old_key) = ca.leaf(&["llmsoak.test"], false, true);
    let (client_cert, client_key) = ca.leaf(&["client"], true, false);
    let good = terminator(&cert, &key, None, sim).port();
    let expired = terminator(&old_cert, &old_key, None, sim).port();
    let mtls = terminator(&cert, &key, Some(&ca), sim).port();
    let (proxy, tunnels) = connect_proxy(SocketAddr::from(([127, 0, 0, 1], good)));
    let ca_file = write(d, "ca.pem", &ca.issuer.pem());
    let other_ca = write(d, "other.pem", &other.issuer.pem());
    let cc = write(d, "client.pem", &client_cert);
    let ck = write(d, "client.key", &client_key);
    let trusted = format!("tls = {{ ca_file = \"{ca_file}\", server_name = \"llmsoak.test\" }}");
    let cases = [
        ("trusted", good, trusted.clone(), "success"),
        (
            "no_server_name",
            good,
            format!("tls = {{ ca_file = \"{ca_file}\" }}"),
            "tls",
        ),
        (
            "no_ca",
            good,
            "tls = { server_name = \"llmsoak.test\" }".into(),
            "tls",
        ),
        (
            "wrong_ca",
            good,
            format!("tls = {{ ca_file = \"{other_ca}\", server_name = \"llmsoak.test\" }}"),
            "tls",
        ),
        ("expired", expired, trusted.clone(), "tls"),
        (
            "insecure",
            good,
            "tls = { insecure_skip_verify = true }".into(),
            "success",
        ),
        ("mtls_without_cert", mtls, trusted.clone(), "tls"),
        (
            "mtls",
            mtls,
            format!(
                "tls = {{ ca_file = \"{ca_file}\", server_name = \"llmsoak.test\", client_cert_file = \"{cc}\", client_key_file = \"{ck}\" }}"
            ),
            "success",
        ),
        (
            "proxied",
            good,
            format!("{trusted}\nproxy = \"http://{proxy}\""),
            "success",
        ),
    ];
    let mut config = LOAD.to_string();
    for (name, port, extra, _) in &cases {
        config.push_str(&target(name, *port, extra));
    }
    let (code, err, r) = run(&config, &[("HTTPS_PROXY", ""), ("https_proxy", "")]);
    assert_eq!(code, Some(0), "{err}");
    for (name, _, _, want) in &cases {
        let s = &r["summary"]["scenarios"][name];
        let finished = s["started"].as_u64().unwrap();
        assert!(finished >= 3, "{name}: {s}");
        if *want == "success" {
            assert_eq!(s["finished"]["success"], finished, "{name}: {s}\n{err}");
        } else {
            assert_eq!(s["finished"]["success"], 0, "{name}: {s}");
            assert_eq!(s["error_types"][want], finished, "{name}: {s}");
        }
    }
    // The proxy tunnelled to the name the certificate is checked against.
    let seen = tunnels.lock().unwrap().clone();
    assert!(
        !seen.is_empty() && seen.iter().all(|a| *a == format!("llmsoak.test:{good}")),
        "{seen:?}"
    );
    // Skipping verification is loud.
    assert!(err.contains("TLS certificate verification is OFF"), "{err}");
    assert!(err.contains("insecure"), "{err}");
}

#[test]
fn the_standard_proxy_variables_are_honoured_unless_proxy_is_none() {
    let (_sim, sim) = simulator(&["--ttft", "2ms", "--itl", "1ms"]);
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("llm-soak test CA");
    let (cert, key) = ca.leaf(&["llmsoak.test"], false, false);
    let good = terminator(&cert, &key, None, sim).port();
    let (proxy, tunnels) = connect_proxy(SocketAddr::from(([127, 0, 0, 1], good)));
    let ca_file = write(dir.path(), "ca.pem", &ca.issuer.pem());
    let mut config = LOAD.to_string();
    config.push_str(&target(
        "from_env",
        good,
        &format!("tls = {{ ca_file = \"{ca_file}\", server_name = \"llmsoak.test\" }}"),
    ));
    config.push_str(&target(
        "direct",
        good,
        "tls = { insecure_skip_verify = true }\nproxy = \"none\"",
    ));
    let proxy_url = format!("http://{proxy}");
    let (code, err, r) = run(
        &config,
        &[
            ("HTTPS_PROXY", &proxy_url),
            ("NO_PROXY", ""),
            ("no_proxy", ""),
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    for name in ["from_env", "direct"] {
        let s = &r["summary"]["scenarios"][name];
        assert_eq!(s["finished"]["success"], s["started"], "{name}: {s}\n{err}");
    }
    let seen = tunnels.lock().unwrap().clone();
    assert!(!seen.is_empty(), "HTTPS_PROXY was not used");
    assert!(
        seen.iter().all(|a| *a == format!("llmsoak.test:{good}")),
        "proxy = \"none\" went through the proxy: {seen:?}"
    );
}
