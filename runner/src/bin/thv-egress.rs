//! `thv-egress`: the network-isolation sidecar of a `thv` workload (see `thv::egress`). `thv run` builds a
//! small local image holding this binary and runs it beside every isolated workload.

use clap::Parser;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let args = thv::egress::SidecarArgs::parse();
    // As a container's first process, it gets no default signal handling: SIGTERM is handled here.
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            thv_core::errln!("thv-egress: cannot handle SIGTERM: {e}");
            std::process::exit(1);
        }
    };
    tokio::select! {
        r = args.run() => if let Err(e) = r {
            thv_core::errln!("thv-egress: {e:#}");
            std::process::exit(1);
        },
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
