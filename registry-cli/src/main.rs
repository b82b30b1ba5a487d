//! `thv-registry`: the curation CLI. Its commands arrive with the curation CLI issue.

fn main() {
    eprintln!(
        "thv-registry {}: no commands yet (see the project's issues)",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(2);
}
