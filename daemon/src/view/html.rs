//! The pages: one HTML template with uPlot (vendored in `assets/uplot`, MIT, its licence and
//! version beside it), the page's own script and style inlined — the live page polls the
//! daemon for its view; a report page carries its view as JSON inside the file, so it opens
//! offline with nothing fetched.

use std::sync::OnceLock;

use super::View;

const TEMPLATE: &str = include_str!("assets/page.html");
const UPLOT_JS: &str = include_str!("assets/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("assets/uplot/uPlot.min.css");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// The template with its assets, `view` (HTML) where the view goes.
fn assemble(view: &str) -> String {
    let mut out =
        String::with_capacity(TEMPLATE.len() + UPLOT_JS.len() + APP_JS.len() + view.len());
    let mut rest = TEMPLATE;
    for (marker, content) in [
        ("/*UPLOT_CSS*/", UPLOT_CSS),
        ("/*APP_CSS*/", APP_CSS),
        ("<!--VIEW-->", view),
        ("/*UPLOT_JS*/", UPLOT_JS),
        ("/*APP_JS*/", APP_JS),
    ] {
        // The template is a constant of this crate with each marker once (a test checks).
        if let Some((head, tail)) = rest.split_once(marker) {
            out.push_str(head);
            out.push_str(content);
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// The live page (`GET /`): the same page, reading `/api/v1/view`.
pub fn live_page() -> &'static str {
    static PAGE: OnceLock<String> = OnceLock::new();
    PAGE.get_or_init(|| assemble(""))
}

/// A self-contained page of `view`.
pub fn report_page(view: &View) -> Result<String, serde_json::Error> {
    let json = serde_json::to_string(view)?;
    // `<` only occurs inside JSON strings, where \u003c means the same: no `</script>` can end
    // the data block early.
    let json = json.replace('<', "\\u003c");
    Ok(assemble(&format!(
        "<script type=\"application/json\" id=\"view\">{json}</script>"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_marker_is_in_the_template_once_and_the_assets_are_inlined() {
        for m in [
            "/*UPLOT_CSS*/",
            "/*APP_CSS*/",
            "<!--VIEW-->",
            "/*UPLOT_JS*/",
            "/*APP_JS*/",
        ] {
            assert_eq!(TEMPLATE.matches(m).count(), 1, "{m}");
        }
        let page = live_page();
        assert!(page.contains(UPLOT_JS) && page.contains(APP_JS));
        assert!(!page.contains("/*APP_JS*/") && !page.contains("id=\"view\""));
        for external in ["src=\"http", "href=\"http", "@import", "src=\"//"] {
            assert!(!page.contains(external), "the page loads {external}…");
        }
    }
}
