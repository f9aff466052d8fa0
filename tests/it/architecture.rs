//! The boundaries between the workspace's crates (ARCHITECTURE.md, "Crates"), checked where the
//! compiler cannot: what each crate's `Cargo.toml` lists as dependencies, and that the MCP side
//! never opens the snapshot for writing.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The names a manifest lists under `[dependencies]` (not dev- or build-dependencies).
fn dependencies(manifest: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(manifest).unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
    let mut names = Vec::new();
    let mut in_dependencies = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
        } else if in_dependencies && !line.is_empty() && !line.starts_with('#') {
            let name = line.split(['=', '.']).next().unwrap_or_default().trim();
            names.push(name.to_string());
        }
    }
    names
}

fn crate_dependencies(name: &str) -> Vec<String> {
    let deps = dependencies(&root().join("crates").join(name).join("Cargo.toml"));
    assert!(!deps.is_empty(), "crates/{name} lists no dependencies: has the manifest moved?");
    deps
}

#[test]
fn only_the_store_crate_depends_on_sqlite() {
    let mut manifests = vec![root().join("Cargo.toml")];
    for entry in std::fs::read_dir(root().join("crates")).expect("crates/") {
        manifests.push(entry.expect("entry").path().join("Cargo.toml"));
    }
    assert!(manifests.len() >= 9, "{manifests:?}");
    for manifest in manifests {
        let in_store = manifest.starts_with(root().join("crates/store"));
        let deps = dependencies(&manifest);
        for sql in ["rusqlite", "rusqlite_migration"] {
            assert_eq!(deps.iter().any(|d| d == sql), in_store, "{}: {sql} in [dependencies]", manifest.display());
        }
    }
}

#[test]
fn the_parsers_and_the_core_reach_for_no_io_stack() {
    let io = ["rusqlite", "tokio", "ssh2", "notify", "reqwest", "axum", "rmcp", "walkdir", "ingest-store"];
    for krate in ["core", "parse"] {
        let deps = crate_dependencies(krate);
        for name in io {
            assert!(!deps.iter().any(|d| d == name), "crates/{krate} depends on {name}");
        }
    }
    // The core's two exceptions are the test hooks', and only with that feature.
    let core = std::fs::read_to_string(root().join("crates/core/Cargo.toml")).expect("core manifest");
    for hook in ["rustix", "tracing"] {
        let line = core.lines().find(|l| l.starts_with(hook)).unwrap_or_else(|| panic!("{hook} in crates/core"));
        assert!(line.contains("optional = true"), "{line}");
    }
}

#[test]
fn the_mcp_side_and_the_operations_side_do_not_know_each_other() {
    assert!(!crate_dependencies("mcp").iter().any(|d| d == "ingest-ops"), "ingest-mcp depends on ingest-ops");
    assert!(!crate_dependencies("ops").iter().any(|d| d == "ingest-mcp"), "ingest-ops depends on ingest-mcp");
}

/// The product code of a crate: every source file but its test modules (`tests.rs`, and what
/// follows `#[cfg(test)]`).
fn product_sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(product_sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") && path.file_name().is_some_and(|n| n != "tests.rs") {
            let text = std::fs::read_to_string(&path).expect("source");
            let product = text.split("#[cfg(test)]").next().unwrap_or_default().to_string();
            out.push((path, product));
        }
    }
    out
}

#[test]
fn the_mcp_crate_never_opens_the_snapshot_for_writing() {
    let sources = product_sources(&root().join("crates/mcp/src"));
    assert!(sources.len() > 5, "the MCP crate's sources were not found");
    for (path, text) in sources {
        for word in ["open_writer", "Writer", "write_file"] {
            assert!(
                !text.split(|c: char| !c.is_alphanumeric() && c != '_').any(|w| w == word),
                "{} names {word}",
                path.display()
            );
        }
    }
}
