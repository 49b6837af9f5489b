//! The `chime_exporter` binary: parse flags, set up logging, run (or, with
//! `check` first, check the configuration and the credentials).

use std::ffi::OsString;
use std::process::ExitCode;

use chime_exporter::check::Output;
use chime_exporter::config::Cli;

/// `check` as the first argument, and its `--output json|text`: taken out
/// of the arguments, which are then the exporter's own flags.
fn split_check(mut args: Vec<OsString>) -> Result<(Vec<OsString>, Option<Output>), String> {
    if args.get(1).is_none_or(|a| a != "check") {
        return Ok((args, None));
    }
    args.remove(1);
    let mut output = Output::Text;
    let mut i = 1;
    while i < args.len() {
        let arg = args[i].to_string_lossy().into_owned();
        let value = if let Some(v) = arg.strip_prefix("--output=") {
            args.remove(i);
            v.to_owned()
        } else if arg == "--output" {
            args.remove(i);
            if i >= args.len() {
                return Err("--output needs a value: text or json".into());
            }
            args.remove(i).to_string_lossy().into_owned()
        } else {
            i += 1;
            continue;
        };
        output = match value.as_str() {
            "text" => Output::Text,
            "json" => Output::Json,
            other => {
                return Err(format!(
                    "invalid value for --output: '{other}' (text or json)"
                ))
            }
        };
    }
    Ok((args, Some(output)))
}

fn main() -> ExitCode {
    let (args, check) = match split_check(std::env::args_os().collect()) {
        Ok(split) => split,
        Err(err) => {
            eprintln!("chime_exporter: {err}");
            return ExitCode::from(2);
        }
    };
    let (cli, explicit) = match Cli::parse_args(args) {
        Ok(parsed) => parsed,
        // Prints the message (or --help/--version) and exits: 2 for a
        // usage error, 0 for help.
        Err(err) => err.exit(),
    };
    let config = match cli.into_config_with(&explicit) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("chime_exporter: {err}");
            return ExitCode::from(2);
        }
    };
    chime_exporter::logging::init(config.log_level, config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("chime_exporter: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(output) = check {
        let result = runtime.block_on(chime_exporter::startup::check(&config, output));
        runtime.shutdown_timeout(std::time::Duration::from_millis(200));
        return match result {
            Ok((report, code)) => {
                print!("{report}");
                ExitCode::from(code)
            }
            Err(err) => {
                eprintln!("chime_exporter: {err}");
                ExitCode::FAILURE
            }
        };
    }
    let result = runtime.block_on(async {
        let shutdown = chime_exporter::shutdown_signal();
        chime_exporter::run(config, shutdown).await
    });
    // Do not wait for fetches still hanging on the API.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "exporter failed");
            eprintln!("chime_exporter: {err}");
            ExitCode::FAILURE
        }
    }
}
