//! A target's TLS and proxy set-up on its `reqwest` client: extra trusted roots (a private CA),
//! a client identity (mutual TLS), a server name that replaces `base_url`'s host for SNI,
//! certificate verification and `Host` while the connection still goes to `base_url`'s
//! address, the opt-in to skip verification (warned about once per target), and the proxy.

use std::net::{SocketAddr, ToSocketAddrs};

use super::credentials::TlsMaterial;
use crate::config::Target;
use crate::config::tls::Proxy;

/// Apply `t`'s TLS and proxy settings; `Err` is why they cannot be.
pub(super) fn configure(
    mut b: reqwest::ClientBuilder,
    t: &Target,
    material: TlsMaterial,
) -> Result<reqwest::ClientBuilder, String> {
    for root in material.roots {
        b = b.add_root_certificate(root);
    }
    if let Some(id) = material.identity {
        b = b.identity(id);
    }
    if t.tls.insecure_skip_verify {
        tracing::warn!(
            target_name = %t.name,
            "TLS certificate verification is OFF for this target (tls.insecure_skip_verify): \
             anyone on the path can impersonate it; llmsoak_run_info names it in llmsoak_tls_unverified"
        );
        b = b.tls_danger_accept_invalid_certs(true);
    }
    if let Some(name) = &t.tls.server_name {
        let addrs = connect_addrs(t)?;
        b = b.resolve_to_addrs(name, &addrs);
    }
    b = match &t.proxy {
        Proxy::Env => b,
        Proxy::None => b.no_proxy(),
        Proxy::Url(u) => {
            let p = reqwest::Proxy::all(u).map_err(|e| format!("proxy {u}: {e}"))?;
            b.proxy(p)
        }
    };
    Ok(b)
}

/// Where `base_url` points: its IP, or its host name resolved once, at start.
fn connect_addrs(t: &Target) -> Result<Vec<SocketAddr>, String> {
    let host = t
        .server_address
        .trim_start_matches('[')
        .trim_end_matches(']');
    let addrs: Vec<SocketAddr> = (host, t.server_port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    Ok(addrs)
}

/// `url` with `tls.server_name` as its host (when set): reqwest then sends it as SNI, verifies
/// the certificate against it and sends it as `Host`, and connects where [`configure`] resolved
/// it — `base_url`'s address.
pub(crate) fn connect_url(t: &Target, url: String) -> String {
    let Some(name) = &t.tls.server_name else {
        return url;
    };
    let Ok(mut u) = reqwest::Url::parse(&url) else {
        return url;
    };
    match u.set_host(Some(name)) {
        Ok(()) => u.to_string(),
        Err(_) => url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn target(extra: &str) -> Target {
        let text = format!(
            "[[target]]\nname = \"t\"\nbase_url = \"https://127.0.0.1:8443/api\"\nmodel = \"m\"\n{extra}\n\
             [load]\npreset = {{ name = \"steady\", rate = 1 }}\n\
             [[scenario]]\nname = \"s\"\ninput_tokens = 8\noutput_tokens = 8\n"
        );
        Config::parse(&text, "t", &|_| None)
            .unwrap()
            .targets
            .remove(0)
    }

    #[test]
    fn a_server_name_replaces_the_host_and_keeps_the_port_and_path() {
        let t = target("tls = { server_name = \"llm.internal\" }");
        let url = connect_url(&t, t.url(crate::openai::Endpoint::Chat, "m"));
        assert_eq!(url, "https://llm.internal:8443/api/v1/chat/completions");
        assert_eq!(
            connect_addrs(&t).unwrap(),
            [SocketAddr::from(([127, 0, 0, 1], 8443))]
        );
        let plain = target("");
        let url = connect_url(&plain, plain.url(crate::openai::Endpoint::Chat, "m"));
        assert_eq!(url, "https://127.0.0.1:8443/api/v1/chat/completions");
    }
}
