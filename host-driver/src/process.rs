//! What each long-running vsnic program (`vsnicd`, `vsnic-simd`) does around its work: logs to
//! stderr (filtered by `RUST_LOG`, `warn` by default), a tokio runtime, and a failure printed as
//! `NAME: error` with a failing exit code.

use std::future::Future;
use std::process::ExitCode;

/// Run `work` on a runtime of `worker_threads` threads and turn its result into the exit code.
pub fn main(
    name: &str,
    worker_threads: usize,
    work: impl Future<Output = Result<ExitCode, String>>,
) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(work) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
