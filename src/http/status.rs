//! `/status`: the page an operator opens first. Server-rendered HTML with no
//! script and no outside asset (it works offline and under
//! `Content-Security-Policy: default-src 'none'`), every value that came
//! from the API escaped; `/status?format=json` gives the same report for
//! scripts.

use std::fmt::Write as _;

use crate::expose::StatusReport;

use super::landing::html_escape as esc;

/// The security policy the page is served with: nothing but itself and its
/// own inline style.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The last error and when it happened, or `—`.
fn last_error(error: Option<&str>, time: Option<f64>, now: f64) -> String {
    match (error, time) {
        (Some(e), Some(t)) => format!("{e} ({})", when(Some(t), now)),
        (Some(e), None) => e.to_owned(),
        _ => "—".to_owned(),
    }
}

/// `2026-12-02 01:02:03 UTC (35 s ago)`, or `—`.
fn when(time: Option<f64>, now: f64) -> String {
    let Some(t) = time else {
        return "—".to_owned();
    };
    let secs = t.max(0.0) as u64;
    let stamp = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
    );
    let delta = now - t;
    let rel = if delta >= 0.0 {
        format!("{} ago", age(delta))
    } else {
        format!("in {}", age(-delta))
    };
    format!(
        "{} ({rel})",
        stamp.to_string().replace('T', " ").replace('Z', " UTC")
    )
}

/// `42 s`, `3 min`, `2.5 h`.
fn age(seconds: f64) -> String {
    if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else if seconds < 7200.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

fn yes_no(ok: bool) -> &'static str {
    if ok {
        "<span class=\"ok\">up</span>"
    } else {
        "<span class=\"bad\">down</span>"
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| v.to_string())
}

/// The page.
pub fn status_page(report: &StatusReport) -> String {
    let now = report.time;
    let mut out = String::with_capacity(4096 + report.accounts.len() * 400);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Chime Exporter status</title><link rel=\"icon\" href=\"data:,\">\n<style>\
         body{{font-family:system-ui,sans-serif;margin:1.5em;color:#222}}\
         table{{border-collapse:collapse;margin:0.5em 0 1.5em}}\
         th,td{{border:1px solid #ccc;padding:0.25em 0.6em;text-align:left;vertical-align:top}}\
         th{{background:#f3f3f3}} .ok{{color:#17692b;font-weight:600}} .bad{{color:#b3261e;font-weight:600}}\
         tr.failing td{{background:#fdecea}} td.num{{text-align:right}} code{{font-size:0.95em}}\
         </style></head>\n<body>\n<h1>Chime Exporter status</h1>\n\
         <p><a href=\".\">Home</a> · <a href=\"status?format=json\">JSON</a></p>\n"
    );
    let _ = write!(
        out,
        "<h2>Exporter</h2>\n<table id=\"exporter\">\n\
         <tr><th>Version</th><td>{} (revision {}, built {}, rustc {})</td></tr>\n\
         <tr><th>Shard</th><td>{} of {}</td></tr>\n\
         <tr><th>Refresh capacity</th><td class=\"{}\" id=\"capacity\">{:.3} ({:.2} API calls/s needed, {:.2} allowed)</td></tr>\n\
         <tr><th>Config file reload</th><td>{} · last success {}</td></tr>\n\
         <tr><th>Web config reload</th><td>{} · last success {}</td></tr>\n</table>\n",
        esc(report.build.version),
        esc(report.build.revision),
        esc(report.build.build_date),
        esc(report.build.rustc_version),
        report.shard.index,
        report.shard.count,
        if report.capacity.ratio <= 1.0 { "ok" } else { "bad" },
        report.capacity.ratio,
        report.capacity.needed_per_second,
        report.capacity.allowed_per_second,
        if report.reloads.config.successful { "<span class=\"ok\">successful</span>" } else { "<span class=\"bad\">failed</span>" },
        esc(&when(Some(report.reloads.config.last_success), now)),
        if report.reloads.web_config.successful { "<span class=\"ok\">successful</span>" } else { "<span class=\"bad\">failed</span>" },
        esc(&when(Some(report.reloads.web_config.last_success), now)),
    );
    out.push_str(
        "<h2>Targets</h2>\n<table id=\"targets\">\n<tr><th>Target</th><th>Credentials</th><th>Discovery</th>\
         <th>State</th><th>Last success</th><th>Last error</th><th>Accounts</th></tr>\n",
    );
    for t in &report.targets {
        let _ = writeln!(
            out,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
            if t.up { "" } else { "failing" },
            esc(&t.name),
            esc(&t.credentials),
            if t.discover { "on" } else { "configured accounts" },
            if t.discovered { yes_no(t.up) } else { "starting" },
            esc(&when(t.last_success, now)),
            esc(t.last_error.unwrap_or("—")),
            t.accounts
        );
    }
    out.push_str("</table>\n");
    let _ = writeln!(
        out,
        "<h2>Accounts ({}, failing first)</h2>\n<table id=\"accounts\">\n<tr><th>Name</th><th>Account</th>\
         <th>AWS account</th><th>Target</th><th>State</th><th>Bots</th><th>Disabled</th><th>Data age</th>\
         <th>Refresh due</th><th>Last error</th><th>API calls</th></tr>",
        report.accounts.len()
    );
    for a in &report.accounts {
        let error = last_error(a.last_error, a.last_error_time, now);
        let _ = writeln!(
            out,
            "<tr class=\"{}\" data-account=\"{}\"><td class=\"name\">{}</td><td><code>{}</code></td><td>{}</td><td>{}</td>\
             <td class=\"state\">{}</td><td class=\"num bots\">{}</td><td class=\"num\">{}</td><td class=\"num age\">{}</td>\
             <td>{}</td><td class=\"error\">{}</td><td class=\"num\">{}</td></tr>",
            if a.up { "" } else { "failing" },
            esc(&a.account_id),
            esc(&a.name),
            esc(&a.account_id),
            esc(&a.aws_account_id),
            esc(&a.target),
            yes_no(a.up),
            opt(a.bots),
            opt(a.disabled_bots),
            a.data_age.map_or_else(|| "—".to_owned(), age),
            esc(&when(a.next_refresh, now)),
            esc(&error),
            a.api_calls
        );
    }
    out.push_str("</table>\n");
    if !report.app_instances.is_empty() {
        let _ = writeln!(
            out,
            "<h2>Chime SDK AppInstances ({}, failing first)</h2>\n<table id=\"app-instances\">\n\
             <tr><th>Name</th><th>AppInstance</th><th>State</th><th>Bots</th><th>Described</th>\
             <th>Data age</th><th>Refresh due</th><th>Last error</th></tr>",
            report.app_instances.len()
        );
        for a in &report.app_instances {
            let error = last_error(a.last_error, a.last_error_time, now);
            let _ = writeln!(
                out,
                "<tr class=\"{}\" data-app-instance=\"{}\"><td class=\"name\">{}</td><td><code>{}</code></td>\
                 <td class=\"state\">{}</td><td class=\"num bots\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num age\">{}</td><td>{}</td><td class=\"error\">{}</td></tr>",
                if a.up { "" } else { "failing" },
                esc(&a.app_instance_arn),
                esc(&a.name),
                esc(&a.app_instance_arn),
                yes_no(a.up),
                opt(a.bots),
                opt(a.described_bots),
                a.data_age.map_or_else(|| "—".to_owned(), age),
                esc(&when(a.next_refresh, now)),
                esc(&error),
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}
