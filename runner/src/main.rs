//! `thv`: the runner. Its commands arrive with the runner issue.

fn main() {
    eprintln!(
        "thv {}: no commands yet (see the project's issues)",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(2);
}
