//! The `chime_exporter` binary: parse flags, set up logging, run.

use std::process::ExitCode;

use chime_exporter::config::Cli;

fn main() -> ExitCode {
    let (cli, explicit) = match Cli::parse_args(std::env::args_os()) {
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
