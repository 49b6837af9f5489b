//! The landing page at `/`.

use crate::expose::build;

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The page: the exporter's name and links to what it serves.
pub fn landing_page(telemetry_path: &str) -> String {
    let path = html_escape(telemetry_path);
    format!(
        "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>Chime Exporter</title></head>\n<body>\n\
         <h1>Chime Exporter</h1>\n\
         <p>Prometheus exporter for the Amazon Chime administration API (bots and accounts).</p>\n\
         <ul>\n<li><a href=\"{path}\">Metrics</a></li>\n<li><a href=\"/-/healthy\">Health</a></li>\n\
         <li><a href=\"/-/ready\">Readiness</a></li>\n</ul>\n<p>Version {}</p>\n</body>\n</html>\n",
        build::VERSION
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landing_page_escapes_the_path() {
        let page = landing_page("/m<x>");
        assert!(page.contains("href=\"/m&lt;x&gt;\""));
    }
}
