//! Regenerates `data/registry.json`, the bundled catalog in the upstream registry format, from ToolHive's legacy
//! catalog `data/toolhive-legacy-registry.json` (79 container servers, 23 remote servers).
//!
//! Usage: `cargo run -p thv-core --example gen_registry [LEGACY_IN [UPSTREAM_OUT]]`
//!
//! The output is deterministic: servers in legacy key order (containers, then remotes), `meta.last_updated`
//! taken from the legacy file, pretty-printed with a trailing newline. `core/tests/bundled_registry.rs` checks
//! that the committed file matches.

use std::path::PathBuf;
use std::process::ExitCode;

use thv_core::legacy::{LegacyRegistry, legacy_to_upstream};

fn main() -> ExitCode {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("data");
    let mut args = std::env::args_os().skip(1);
    let input = args
        .next()
        .map_or_else(|| data.join("toolhive-legacy-registry.json"), PathBuf::from);
    let output = args
        .next()
        .map_or_else(|| data.join("registry.json"), PathBuf::from);
    match run(&input, &output) {
        Ok(count) => {
            println!("wrote {} ({count} servers)", output.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen_registry: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(input: &std::path::Path, output: &std::path::Path) -> Result<usize, String> {
    let bytes =
        std::fs::read(input).map_err(|e| format!("cannot read {}: {e}", input.display()))?;
    let legacy: LegacyRegistry = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not a legacy registry: {e}", input.display()))?;
    let upstream = legacy_to_upstream(&legacy).map_err(|e| e.to_string())?;
    let text = upstream.to_pretty_json().map_err(|e| e.to_string())?;
    std::fs::write(output, text).map_err(|e| format!("cannot write {}: {e}", output.display()))?;
    Ok(upstream.data.servers.len())
}
