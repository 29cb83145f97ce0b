//! The release pipeline: the workflows (and the GitHub Actions example in the docs) pass
//! `actionlint`; the release runs the tests first, builds the image for two architectures with
//! provenance and an SBOM, builds and attests the Debian packages the way the package test does,
//! and publishes them; the root Dockerfile is multi-stage, non-root and minimal, its context kept
//! small by .dockerignore, and it is what the compose stack builds.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use crate::common::artefacts::*;

fn actionlint() -> PathBuf {
    let venv = root().join("target/actionlint-venv/bin/actionlint");
    assert!(
        venv.exists(),
        "no target/actionlint-venv: scripts/test.sh installs actionlint there"
    );
    venv
}

#[test]
fn the_workflows_and_the_documented_ci_example_pass_actionlint() {
    let dir = root().join(".github/workflows");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    // The docs' GitHub Actions snippets are jobs: linted inside a workflow around them.
    let tmp = tempfile::tempdir().unwrap();
    let mut snippets = 0;
    for doc in ["docs/ci-gates.md", "docs/install.md", "README.md"] {
        let text = std::fs::read_to_string(root().join(doc)).unwrap_or_default();
        for block in text.split("```yaml\n").skip(1) {
            let body = block.split("```").next().unwrap();
            if !body.contains("runs-on:") {
                continue;
            }
            let path = tmp.path().join(format!("snippet-{snippets}.yml"));
            std::fs::write(&path, format!("on: push\njobs:\n{body}")).unwrap();
            files.push(path.display().to_string());
            snippets += 1;
        }
    }
    assert!(snippets >= 1, "no documented workflow found");
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let (ok, out) = run_tool(actionlint(), &args, &[]);
    assert!(ok, "actionlint:\n{out}");
    // A broken workflow is caught: the linter is really looking.
    let bad = tmp.path().join("bad.yml");
    std::fs::write(
        &bad,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.nonexistent_context_key }}\n",
    )
    .unwrap();
    let (ok, _) = run_tool(actionlint(), &[bad.to_str().unwrap()], &[]);
    assert!(!ok, "actionlint passed a workflow with an unknown context");
}

#[test]
fn the_release_tests_first_and_publishes_attested_images_and_packages() {
    let wf = yaml(&root().join(".github/workflows/release.yml"));
    assert_eq!(wf["on"]["push"]["tags"], serde_json::json!(["v*"]));
    let jobs = &wf["jobs"];
    let steps = |job: &str| jobs[job]["steps"].to_string();
    assert!(
        steps("test").contains(".ci/run"),
        "the release runs CI's own tests"
    );
    for job in ["image", "deb"] {
        assert_eq!(jobs[job]["needs"], "test", "{job} waits for the tests");
        assert_eq!(
            jobs[job]["permissions"]["id-token"], "write",
            "{job}: attestations"
        );
    }
    let image = steps("image");
    assert!(image.contains("linux/amd64,linux/arm64"), "{image}");
    assert!(
        image.contains("mode=max") && image.contains("\"sbom\":true"),
        "{image}"
    );
    assert!(image.contains("attest-build-provenance"), "{image}");
    let deb = steps("deb");
    assert!(
        deb.contains("scripts/deb-assets.sh target/release/llm-soak"),
        "{deb}"
    );
    assert!(deb.contains("cargo deb --no-build") && deb.contains("attest-build-provenance"));
    // The same cargo-deb the package test uses.
    let pin = "cargo-deb --version 3.6.0";
    assert!(deb.contains(pin));
    let test_sh = std::fs::read_to_string(root().join("scripts/test.sh")).unwrap();
    assert!(
        test_sh.contains(pin),
        "scripts/test.sh pins another cargo-deb"
    );
    let arches = jobs["deb"]["strategy"]["matrix"]["include"].to_string();
    assert!(
        arches.contains("amd64") && arches.contains("arm64"),
        "{arches}"
    );
    assert_eq!(
        jobs["publish"]["needs"],
        serde_json::json!(["image", "deb"])
    );
    assert!(steps("publish").contains("gh release create"));
}

#[test]
fn the_image_is_multi_stage_non_root_and_minimal() {
    let df = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let froms: Vec<&str> = df.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(
        froms.len(),
        2,
        "a build stage and a runtime stage: {froms:?}"
    );
    assert!(froms[0].contains(" AS build"), "{froms:?}");
    assert!(
        froms[1].contains("distroless/cc-debian12:nonroot"),
        "a minimal runtime: {froms:?}"
    );
    assert!(!df.contains(":latest"), "pinned bases");
    assert!(df.contains("cargo build --release --locked"));
    assert!(df.contains("COPY --from=build /llm-soak /usr/bin/llm-soak"));
    let user = df.lines().find_map(|l| l.strip_prefix("USER ")).unwrap();
    assert!(
        !user.starts_with('0') && !user.starts_with("root"),
        "USER {user}"
    );
    assert!(df.contains("ENTRYPOINT [\"/usr/bin/llm-soak\"]"));
    // Every file the image copies from the context exists, and the context is kept small.
    for l in df
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let src = l.split_whitespace().nth(1).unwrap();
        if src != "." {
            assert!(root().join(src).exists(), "{src}");
        }
    }
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    for p in ["target/", ".git/"] {
        assert!(ignore.lines().any(|l| l == p), ".dockerignore lacks {p}");
    }
    // The compose stack builds this image, not a copy of it.
    let compose = yaml(&root().join("deploy/compose/docker-compose.yml"));
    let build = &compose["services"]["simulator"]["build"];
    assert_eq!(build["dockerfile"], "Dockerfile");
    assert_eq!(build["context"], "../..");
    assert!(!root().join("deploy/compose/Dockerfile").exists());
}
