//! Records the git revision, the build date and the rustc version for
//! `chime_exporter_build_info` and `--version`.

use std::process::Command;

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=CHIME_EXPORTER_REVISION");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    let revision = std::env::var("CHIME_EXPORTER_REVISION")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| output("git", &["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let rustc_version = output(&rustc, &["--version"])
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    // The commit's date rather than the wall clock, so that a build of the
    // same commit says the same (SOURCE_DATE_EPOCH, as reproducible builds
    // set it, wins).
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let build_date = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|secs| {
            output(
                "date",
                &["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%SZ"],
            )
        })
        .or_else(|| {
            output(
                "git",
                &[
                    "log",
                    "-1",
                    "--format=%cd",
                    "--date=format-local:%Y-%m-%dT%H:%M:%SZ",
                ],
            )
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=CHIME_EXPORTER_REVISION={revision}");
    println!("cargo:rustc-env=CHIME_EXPORTER_RUSTC_VERSION={rustc_version}");
    println!("cargo:rustc-env=CHIME_EXPORTER_BUILD_DATE={build_date}");
    let platform = format!(
        "{}/{}",
        std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default(),
        std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default()
    );
    println!("cargo:rustc-env=CHIME_EXPORTER_PLATFORM={platform}");
}
