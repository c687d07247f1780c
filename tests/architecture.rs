//! The module tree has no import circle: a module that needs another one
//! must not be needed by it, directly or through others, so that each can
//! be read, tested and changed with only what is below it in mind.
//!
//! Read from the source text (no compiler involved): a file belongs to its
//! first path component under `src/`, and refers to the modules it names as
//! `crate::name` or inside `crate::{…}`. One level down, `src/settings/`'s
//! files are held to the same rule through `super::name` and `super::{…}`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// module → module it refers to → where (the first `file:line` found).
type Graph = BTreeMap<String, BTreeMap<String, String>>;

/// The floors of README's "How it is built", bottom first: a module refers
/// only to modules on floors below its own. A new top-level module must be
/// given its floor here.
const FLOORS: &[&[&str]] = &[
    &["model", "telemetry", "settings", "banner"],
    &["hub", "tokens", "store", "tls", "slow_clients"],
    &["limits", "presence", "ice"],
    &["workspaces"],
    &["cluster", "webhooks"],
    &["app"],
    &["signaling"],
    &["http"],
    &["startup"],
    &["check"],
];

/// The top-level modules and what each refers to.
fn top_level_graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = lib_modules(&src);
    let mut graph = Graph::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str().to_string_lossy();
        let module = first.trim_end_matches(".rs");
        if modules.contains(module) {
            graph.entry(module.to_string()).or_default();
            add_references(&mut graph, module, &file, "crate::", &modules);
        }
    }
    graph
}

#[test]
fn the_top_level_modules_refer_to_each_other_without_a_circle() {
    assert_no_circle(&top_level_graph());
}

#[test]
fn every_module_refers_only_to_floors_below_its_own() {
    let floor = |m: &str| FLOORS.iter().position(|f| f.contains(&m));
    let mut wrong = Vec::new();
    for (module, refs) in top_level_graph() {
        let Some(own) = floor(&module) else {
            wrong.push(format!("{module} has no floor in FLOORS"));
            continue;
        };
        for (to, at) in refs {
            if floor(&to).is_none_or(|f| f >= own) {
                wrong.push(format!("{module} → {to} ({at}) does not go down"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_settings_files_refer_to_each_other_without_a_circle() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/settings");
    let files: BTreeMap<String, PathBuf> = rust_files(&dir)
        .into_iter()
        .filter(|f| f.parent() == Some(dir.as_path()))
        .map(|f| (f.file_stem().unwrap().to_string_lossy().into_owned(), f))
        .filter(|(name, _)| name != "mod")
        .collect();
    let names: BTreeSet<String> = files.keys().cloned().collect();
    let mut graph = Graph::new();
    for (name, file) in &files {
        for prefix in ["super::", "crate::settings::"] {
            add_references(&mut graph, name, file, prefix, &names);
        }
    }
    assert!(
        graph.get("keys").is_some_and(|refs| refs.contains_key("rules")),
        "the test reads settings' references: keys.rs uses rules.rs"
    );
    assert_no_circle(&graph);
}

/// The modules `lib.rs` declares.
fn lib_modules(src: &Path) -> BTreeSet<String> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let modules: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("pub mod ")
                .or_else(|| l.trim().strip_prefix("mod "))
        })
        .filter_map(|rest| rest.strip_suffix(';'))
        .map(str::to_string)
        .collect();
    assert!(modules.len() >= 10, "lib.rs declares {modules:?}");
    modules
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// Adds to `graph` what `file` (of `module`) names after `prefix`, among `known`.
fn add_references(graph: &mut Graph, module: &str, file: &Path, prefix: &str, known: &BTreeSet<String>) {
    let text = std::fs::read_to_string(file).unwrap();
    let code = without_comments(&text);
    let refs = graph.entry(module.to_string()).or_default();
    for (line, name) in references(&code, prefix) {
        if name != module && known.contains(&name) {
            let shown = file.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(file);
            let at = format!("{}:{line}", shown.display());
            refs.entry(name).or_insert(at);
        }
    }
}

/// The text with every `//` comment (doc comments included) blanked, lines
/// kept. A `//` inside a string literal (a URL) is left alone.
fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_string = false;
        let mut previous = '\0';
        let mut end = line.len();
        for (i, c) in line.char_indices() {
            if c == '"' && previous != '\\' {
                in_string = !in_string;
            } else if c == '/' && previous == '/' && !in_string {
                end = i - 1;
                break;
            }
            previous = if previous == '\\' && c == '\\' { '\0' } else { c };
        }
        out.push_str(&line[..end]);
        out.push('\n');
    }
    out
}

/// (line, name) of each `prefix name` and of each top-level name in `prefix{…}`.
fn references(code: &str, prefix: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(at) = code[from..].find(prefix).map(|i| i + from) {
        from = at + prefix.len();
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let line = code[..at].matches('\n').count() + 1;
        if bytes.get(from) == Some(&b'{') {
            for name in group_heads(&code[from + 1..]) {
                found.push((line, name));
            }
        } else {
            found.push((line, identifier(&code[from..])));
        }
    }
    found
}

/// The first name of each element of a `{a, b::c, d::{e}}` group, up to its closing brace.
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = vec![identifier(group.trim_start())];
    let mut depth = 0;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => heads.push(identifier(group[i + 1..].trim_start())),
            _ => {}
        }
    }
    heads
}

fn identifier(text: &str) -> String {
    text.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// Fails with the first circle found (each step with where it is made).
fn assert_no_circle(graph: &Graph) {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Open,
        Done,
    }
    fn visit(
        graph: &Graph,
        node: &str,
        state: &mut BTreeMap<String, State>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(State::Done) => return None,
            Some(State::Open) => {
                let start = path.iter().position(|n| n == node).unwrap();
                let mut circle = path[start..].to_vec();
                circle.push(node.to_string());
                return Some(circle);
            }
            None => {}
        }
        state.insert(node.to_string(), State::Open);
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flat_map(|refs| refs.keys()) {
            if let Some(circle) = visit(graph, next, state, path) {
                return Some(circle);
            }
        }
        path.pop();
        state.insert(node.to_string(), State::Done);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if let Some(circle) = visit(graph, node, &mut state, &mut Vec::new()) {
            let steps: Vec<String> = circle
                .windows(2)
                .map(|step| format!("  {} → {}  ({})", step[0], step[1], graph[&step[0]][&step[1]]))
                .collect();
            panic!("an import circle: {}\n{}", circle.join(" → "), steps.join("\n"));
        }
    }
}
