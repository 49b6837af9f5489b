//! The landing page at `/`.

use crate::version as build;

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The page, in the manner of the exporter-toolkit's: name, version and
/// revision, described links, and a probe form. Every link is relative, so
/// the page works behind a path prefix (a reverse proxy's `/chime/`).
pub fn landing_page(telemetry_path: &str) -> String {
    let metrics = html_escape(telemetry_path.trim_start_matches('/'));
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Chime Exporter</title><link rel=\"icon\" href=\"data:,\">\
         <style>body{{font-family:system-ui,sans-serif;margin:1.5em;color:#222}}li{{margin:0.3em 0}}\
         label{{margin-right:1em}}</style></head>\n<body>\n\
         <h1>Chime Exporter</h1>\n\
         <p>Prometheus exporter for the Amazon Chime administration API: bots and accounts.</p>\n\
         <p>Version: (version={version}, revision={revision}, build date={date})</p>\n\
         <ul>\n\
         <li><a href=\"{metrics}\">Metrics</a>: what Prometheus scrapes</li>\n\
         <li><a href=\"status\">Status</a>: targets and accounts, failing first (<a href=\"status?format=json\">JSON</a>)</li>\n\
         <li><a href=\"-/healthy\">Health</a>: 200 while the process runs</li>\n\
         <li><a href=\"-/ready\">Readiness</a>: 200 once the first collection finished</li>\n\
         </ul>\n\
         <h2>Probe a bot</h2>\n\
         <form action=\"probe\" method=\"get\">\
         <label>Account ID <input name=\"account_id\" required></label>\
         <label>Bot ID <input name=\"bot_id\" required></label>\
         <label><input type=\"checkbox\" name=\"debug\" value=\"true\"> Debug</label>\
         <input type=\"submit\" value=\"Probe\"></form>\n\
         </body>\n</html>\n",
        version = html_escape(build::VERSION),
        revision = html_escape(build::REVISION),
        date = html_escape(build::BUILD_DATE),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landing_page_escapes_the_path_and_links_relatively() {
        let page = landing_page("/m<x>");
        assert!(page.contains("href=\"m&lt;x&gt;\""), "{page}");
        for link in ["status", "-/healthy", "-/ready"] {
            assert!(page.contains(&format!("href=\"{link}\"")), "{link}");
        }
        assert!(!page.contains("href=\"/"), "an absolute link: {page}");
        assert!(page.contains("action=\"probe\""));
        assert!(page.contains(build::REVISION));
    }
}
