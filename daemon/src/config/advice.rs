//! Warnings on a valid config: settings that are allowed but almost surely not meant, said by
//! `check-config` and logged when a run starts — never a refusal (a gateway may really serve
//! what they describe). Each names its dotted path, like a problem.

use super::{Config, Problem};

/// The last path segment of a URL (`"v1"` of `http://h:8000/v1/`), if it has a path.
fn last_segment(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.split_once('/')?.1.split(['?', '#']).next()?;
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
}

/// The first path segment of an endpoint path (`"v1"` of `/v1/chat/completions`).
fn first_segment(path: &str) -> Option<&str> {
    path.trim_start_matches('/')
        .split('/')
        .next()
        .filter(|s| !s.is_empty())
}

/// What `config` most likely did not mean, each with its path.
pub fn warnings(config: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    for (i, t) in config.targets.iter().enumerate() {
        // The endpoints this target is sent to, with the model each request names.
        let endpoints = config
            .scenarios
            .iter()
            .filter(|s| s.target.index == i)
            .map(|s| (s.endpoint, s.model.as_str()))
            .chain(
                config
                    .canary
                    .as_ref()
                    .filter(|c| c.target.index == i)
                    .map(|c| (c.endpoint, t.model.as_str())),
            );
        let Some(last) = last_segment(&t.base_url) else {
            continue;
        };
        let doubled = endpoints
            .map(|(e, model)| t.paths.endpoint(e, model))
            .find(|p| first_segment(p) == Some(last));
        if let Some(path) = doubled {
            out.push(Problem {
                path: format!("target[{i}].base_url"),
                line: None,
                message: format!(
                    "{:?} ends in /{last} and the endpoint path {path:?} begins with it: requests go to {}{path}. llm-soak adds the API's path itself: drop /{last} from base_url (or set paths = {{ … }})",
                    t.base_url,
                    t.base_url.trim_end_matches('/'),
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(base_url: &str, extra: &str) -> Config {
        let text = format!(
            "[[target]]\nname = \"t\"\nbase_url = {base_url:?}\nmodel = \"m\"\n{extra}\n\
             [load]\nmax_in_flight = 4\npreset = {{ name = \"steady\", rate = 1 }}\n\
             [[scenario]]\nname = \"s\"\ninput_tokens = 8\noutput_tokens = 4\n"
        );
        Config::parse(&text, "t.toml", &|_| None).expect("a valid config")
    }

    #[test]
    fn a_base_url_that_doubles_the_api_prefix_is_warned_about() {
        let w = warnings(&config("http://127.0.0.1:8000/v1", ""));
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].path, "target[0].base_url");
        assert!(
            w[0].message
                .contains("requests go to http://127.0.0.1:8000/v1/v1/chat/completions"),
            "{}",
            w[0].message
        );
        assert_eq!(warnings(&config("http://127.0.0.1:8000/v1/", "")).len(), 1);
        // Healthy: the origin, a gateway prefix, custom paths that do not repeat it.
        for ok in [
            "http://127.0.0.1:8000",
            "http://127.0.0.1:8000/",
            "https://gw.example/llm",
        ] {
            assert_eq!(warnings(&config(ok, "")), [], "{ok}");
        }
        let custom = config(
            "https://x.example/v1",
            "paths = { chat = \"/chat/completions\" }",
        );
        assert_eq!(warnings(&custom), []);
    }
}
