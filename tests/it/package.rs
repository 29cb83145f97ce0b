//! The Debian package: built with `cargo deb` from the test binary (the release pipeline builds
//! it from the release one), installed with `dpkg -i` into a scratch root (so the test needs no
//! root and touches nothing of the machine's), then: every file where Debian wants it, the
//! installed `llm-soak --version` and `check-config` on the installed default config, the
//! installed unit passing `systemd-analyze verify`, completions and the man page generated from
//! the CLI, the config a conffile — and `dpkg --purge` removing every file it installed.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::artefacts::*;

/// The unit the package installs: the repository's, with the binary at /usr/bin.
fn packaged_unit() -> String {
    let src = std::fs::read_to_string(root().join("systemd/llm-soak.service")).unwrap();
    let body = &src[src.find("[Unit]").unwrap()..];
    let head = "# Generated from systemd/llm-soak.service by tests/it/package.rs (LLMSOAK_REGENERATE=1): the unit\n\
                # the Debian package installs, with the binary at /usr/bin. Not enabled on install: edit\n\
                # /etc/llm-soak/llm-soak.toml, put secrets in /etc/default/llm-soak (or a credential, see\n\
                # /usr/share/doc/llm-soak/examples/), then `systemctl enable --now llm-soak`.\n";
    format!(
        "{head}{}",
        body.replace(
            "ExecStart=/usr/local/bin/llm-soak",
            "ExecStart=/usr/bin/llm-soak"
        )
    )
}

#[test]
fn the_packaged_unit_is_the_repositorys_with_the_package_paths() {
    let path = root().join("systemd/package/llm-soak.service");
    let want = packaged_unit();
    if std::env::var_os("LLMSOAK_REGENERATE").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    assert!(
        std::fs::read_to_string(&path).unwrap_or_default() == want,
        "{} is out of date: LLMSOAK_REGENERATE=1 cargo nextest run -E 'test(/^package::/)'",
        path.display()
    );
}

fn ok(c: &mut Command) -> String {
    let out = c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{c:?}:\n{text}");
    text
}

#[test]
fn the_deb_installs_verifies_runs_and_purges_cleanly() {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_llm-soak"));
    // The completions and man page, as the release workflow makes them.
    ok(Command::new(root().join("scripts/deb-assets.sh")).arg(&bin));
    let tmp = tempfile::tempdir().unwrap();
    let debs = tmp.path().join("deb");
    // The test binary (a debug build; cargo-deb warns that it prefers a release one).
    ok(Command::new("cargo")
        .args(["deb", "--no-build", "--profile", "dev", "--fast", "-o"])
        .arg(&debs)
        .current_dir(root()));
    let deb = std::fs::read_dir(&debs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(
        deb.to_string_lossy().ends_with("_amd64.deb"),
        "{}",
        deb.display()
    );
    let info = ok(Command::new("dpkg-deb").arg("--info").arg(&deb));
    assert!(
        info.contains("Package: llm-soak") && info.contains("Depends: libc6"),
        "{info}"
    );

    // A scratch root with an empty dpkg database: installing needs neither root nor libc6 there.
    let r = tmp.path().join("root");
    for d in [
        "var/lib/dpkg/updates",
        "var/lib/dpkg/info",
        "var/lib/dpkg/triggers",
    ] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::fs::write(r.join("var/lib/dpkg/status"), "").unwrap();
    let dpkg = |args: &[&str]| {
        let mut c = Command::new("dpkg");
        c.arg(format!("--root={}", r.display()))
            .args(["--force-not-root", "--force-depends"])
            .args(args);
        c
    };
    ok(&mut dpkg(&["-i", deb.to_str().unwrap()]));
    let status = ok(&mut dpkg(&["-s", "llm-soak"]));
    assert!(status.contains("Status: install ok installed"), "{status}");
    assert!(
        status.contains("/etc/llm-soak/llm-soak.toml"),
        "the config is a conffile: {status}"
    );
    for f in [
        "usr/bin/llm-soak",
        "lib/systemd/system/llm-soak.service",
        "etc/llm-soak/llm-soak.toml",
        "usr/share/bash-completion/completions/llm-soak",
        "usr/share/zsh/vendor-completions/_llm-soak",
        "usr/share/fish/vendor_completions.d/llm-soak.fish",
        "usr/share/man/man1/llm-soak.1.gz",
        "usr/share/doc/llm-soak/copyright",
        "usr/share/doc/llm-soak/examples/llm-soak.service.d/credentials.conf.example",
        "usr/share/llm-soak/alerts/llm-soak.alerts.yml",
        "usr/share/llm-soak/dashboards/llm-soak-overview.json",
    ] {
        assert!(r.join(f).is_file(), "{f} not installed");
    }
    let installed = r.join("usr/bin/llm-soak");
    let version = ok(Command::new(&installed).arg("--version"));
    assert_eq!(
        version.trim(),
        format!("llm-soak {}", env!("CARGO_PKG_VERSION"))
    );
    // The installed default config checks, with the key systemd would give it.
    let conf = r.join("etc/llm-soak/llm-soak.toml");
    ok(Command::new(&installed)
        .args(["check-config", "-c", conf.to_str().unwrap()])
        .env("LLM_SOAK_API_KEY", "k"));
    let bash =
        std::fs::read_to_string(r.join("usr/share/bash-completion/completions/llm-soak")).unwrap();
    assert!(
        bash.contains("complete -F _llm-soak") || bash.contains("_llm__soak"),
        "{bash}"
    );
    assert!(bash.contains("sweep") && bash.contains("check-config"));
    let man = ok(Command::new("gzip")
        .arg("-dc")
        .arg(r.join("usr/share/man/man1/llm-soak.1.gz")));
    assert!(man.contains(".TH llm-soak 1"), "{man}");
    // The installed unit verifies, the binary where it was installed.
    let unit = std::fs::read_to_string(r.join("lib/systemd/system/llm-soak.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/llm-soak run -c /etc/llm-soak/llm-soak.toml"));
    let check = tmp.path().join("unit");
    std::fs::create_dir_all(&check).unwrap();
    let rooted = unit.replace("/usr/bin/llm-soak", installed.to_str().unwrap());
    std::fs::write(check.join("llm-soak.service"), rooted).unwrap();
    let (verified, out) = run_tool(
        "systemd-analyze",
        &["verify", check.join("llm-soak.service").to_str().unwrap()],
        &[],
    );
    assert!(
        verified && out.trim().is_empty(),
        "systemd-analyze verify:\n{out}"
    );

    // Purge: every file gone, the conffile too.
    ok(&mut dpkg(&["--purge", "llm-soak"]));
    let left: Vec<PathBuf> = walk(&r)
        .into_iter()
        .filter(|p| !p.starts_with(r.join("var/lib/dpkg")))
        .collect();
    assert!(left.is_empty(), "left after purge: {left:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
