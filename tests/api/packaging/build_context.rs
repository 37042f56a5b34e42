//! The build context: the build stage copies every file the crate compiles in, and
//! `.dockerignore` keeps each of them.

use super::*;

#[test]
fn the_build_context_holds_every_file_the_crate_compiles_in() {
    let instructions = dockerfile();
    let kept: BTreeSet<String> = read(".dockerignore")
        .lines()
        .filter_map(|l| l.trim().strip_prefix('!'))
        .map(|p| p.trim_end_matches('/').to_owned())
        .collect();
    let copied: BTreeSet<String> = instructions
        .iter()
        .filter(|i| i.stage == 1 && i.keyword == "COPY")
        .flat_map(|i| copy_parts(i).1)
        .map(|s| s.trim_end_matches('/').to_owned())
        .collect();
    for needed in ["Cargo.toml", "Cargo.lock", "src", "config"] {
        assert!(
            copied.contains(needed),
            "the build stage does not COPY {needed}"
        );
    }
    assert!(!repo().join("build.rs").exists() || copied.contains("build.rs"));
    for source in &copied {
        assert!(
            kept.contains(source),
            "COPY {source}: .dockerignore keeps it out"
        );
    }

    // What include_str!/include_bytes! pull in must be inside what the build copies.
    let mut included = Vec::new();
    for file in rust_files(&repo().join("src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for macro_call in ["include_str!(\"", "include_bytes!(\""] {
            for (at, _) in text.match_indices(macro_call) {
                let rest = &text[at + macro_call.len()..];
                let relative = &rest[..rest.find('"').unwrap()];
                included.push((
                    file.clone(),
                    normalise(&file.parent().unwrap().join(relative)),
                ));
            }
        }
    }
    assert!(!included.is_empty(), "config/default.toml is compiled in");
    for (file, target) in included {
        let top = target
            .strip_prefix(repo())
            .ok()
            .and_then(|p| p.iter().next());
        assert!(
            top.is_some_and(|t| copied.contains(&*t.to_string_lossy())),
            "{} includes {}, which the image build does not copy",
            file.display(),
            target.display()
        );
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// `a/b/../c` → `a/c`, without touching the file system.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
