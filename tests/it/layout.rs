//! The source tree's shape: imports run one way (no cycle between files, nor between the
//! top-level modules of `src/`), and no file grows past one job (800 lines without its tests).
//!
//! It reads `src/` as text: a `crate::`, `super::` or `self::` path (also inside `use` groups)
//! is an import of the file that defines the longest prefix of that path. A folder's `mod.rs`
//! re-exporting its own children is its facade, not a dependency.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lines a file may have without its `#[cfg(test)]` module.
const MAX_LINES: usize = 800;

struct Tree {
    /// src-relative path (`convert/pass.rs`) → text without test modules and line comments.
    files: BTreeMap<String, String>,
}

impl Tree {
    fn read() -> Tree {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = BTreeMap::new();
        let mut stack = vec![src.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path: PathBuf = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let rel = path
                        .strip_prefix(&src)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/");
                    let text = std::fs::read_to_string(&path).unwrap();
                    files.insert(rel, strip_comments(&strip_tests(&text)));
                }
            }
        }
        Tree { files }
    }

    /// Module path of a file: `convert/mod.rs` → `[convert]`, `lib.rs` → `[]`.
    fn module_of(file: &str) -> Vec<String> {
        let mut parts: Vec<String> = file
            .trim_end_matches(".rs")
            .split('/')
            .map(str::to_owned)
            .collect();
        if matches!(
            parts.last().map(String::as_str),
            Some("mod" | "lib" | "main")
        ) {
            parts.pop();
        }
        parts
    }

    /// File → the files it imports.
    fn edges(&self) -> BTreeMap<String, BTreeSet<String>> {
        let modules: BTreeMap<Vec<String>, &String> = self
            .files
            .keys()
            .filter(|f| *f != "main.rs")
            .map(|f| (Self::module_of(f), f))
            .collect();
        let resolve = |path: &[String]| -> Option<String> {
            (1..=path.len())
                .rev()
                .find_map(|n| modules.get(&path[..n]).map(|f| (*f).clone()))
        };
        let mut edges = BTreeMap::new();
        for (file, body) in &self.files {
            let me = Self::module_of(file);
            let is_mod = file.ends_with("mod.rs");
            let dir = file.rsplit_once('/').map_or("", |(d, _)| d);
            let mut out = BTreeSet::new();
            for path in paths_in(body) {
                let mut absolute = if path[0] == "crate" {
                    Vec::new()
                } else {
                    me.clone()
                };
                let mut rest = &path[..];
                while let Some(first) = rest.first() {
                    match first.as_str() {
                        "crate" | "self" => {}
                        "super" => {
                            absolute.pop();
                        }
                        _ => break,
                    }
                    rest = &rest[1..];
                }
                absolute.extend(rest.iter().cloned());
                let Some(target) = resolve(&absolute) else {
                    continue;
                };
                let facade = is_mod && target.starts_with(&format!("{dir}/"));
                if target != *file && target != "lib.rs" && !facade {
                    out.insert(target);
                }
            }
            edges.insert(file.clone(), out);
        }
        edges
    }
}

/// Removes `#[cfg(test)] mod name { ... }` blocks (brace-matched).
fn strip_tests(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]") {
        let after = &rest[at + "#[cfg(test)]".len()..];
        let trimmed = after.trim_start();
        let is_mod = trimmed.starts_with("mod ") || trimmed.starts_with("pub(crate) mod ");
        let open = trimmed.find('{');
        let semi = trimmed.find(';');
        if !is_mod || open.is_none() || semi.is_some_and(|s| s < open.unwrap()) {
            out.push_str(&rest[..at + "#[cfg(test)]".len()]);
            rest = after;
            continue;
        }
        out.push_str(&rest[..at]);
        let body = &trimmed[open.unwrap() + 1..];
        let mut depth = 1;
        let mut end = body.len();
        for (i, c) in body.char_indices() {
            depth += match c {
                '{' => 1,
                '}' => -1,
                _ => 0,
            };
            if depth == 0 {
                end = i + 1;
                break;
            }
        }
        rest = &body[end..];
    }
    out.push_str(rest);
    out
}

/// Removes `//` comments (doc comments included), so that paths in prose do not count.
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            // `"s3://…"` in a string is not a comment.
            Some(at) if !l[..at].ends_with(':') => &l[..at],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every `crate::…`, `super::…`, `self::…` path, with `use p::{a, b::c}` groups expanded.
fn paths_in(body: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = body.as_bytes();
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(at) = body[from..].find(start).map(|i| i + from) {
            from = at + start.len();
            if at > 0 && (is_ident(bytes[at - 1] as char) || bytes[at - 1] == b':') {
                continue;
            }
            let mut end = at;
            while end < body.len() && (is_ident(bytes[end] as char) || bytes[end] == b':') {
                end += 1;
            }
            let prefix: Vec<String> = body[at..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if body[end..].starts_with('{') {
                let close = body[end..].find('}').map_or(body.len(), |i| i + end);
                for item in body[end + 1..close].split(',') {
                    let item = item.split(" as ").next().unwrap().trim();
                    let item = item.trim_start_matches('{');
                    if !item.is_empty() && item.chars().all(|c| is_ident(c) || c == ':') {
                        let mut p = prefix.clone();
                        p.extend(
                            item.split("::")
                                .filter(|s| !s.is_empty())
                                .map(str::to_owned),
                        );
                        out.push(p);
                    }
                }
            }
            out.push(prefix);
        }
    }
    out
}

/// Strongly connected components with more than one member (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.edges.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

fn describe(cycles: &[Vec<String>], edges: &BTreeMap<String, BTreeSet<String>>) -> String {
    let mut msg = String::new();
    for c in cycles {
        msg.push_str(&format!("cycle: {}\n", c.join(" <-> ")));
        for a in c {
            for b in edges[a].iter().filter(|b| c.contains(b)) {
                msg.push_str(&format!("   {a} -> {b}\n"));
            }
        }
    }
    msg
}

#[test]
fn no_import_cycle_between_files() {
    let edges = Tree::read().edges();
    let found = cycles(&edges);
    assert!(found.is_empty(), "\n{}", describe(&found, &edges));
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let edges = Tree::read().edges();
    let unit = |f: &str| f.split('/').next().unwrap().to_owned();
    let mut units: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (a, bs) in &edges {
        let entry = units.entry(unit(a)).or_default();
        entry.extend(bs.iter().map(|b| unit(b)).filter(|b| *b != unit(a)));
    }
    let found = cycles(&units);
    assert!(found.is_empty(), "\n{}", describe(&found, &units));
}

#[test]
fn no_file_is_over_800_lines_without_its_tests() {
    let tree = Tree::read();
    let big: Vec<String> = tree
        .files
        .iter()
        .map(|(f, body)| (f, body.lines().count()))
        .filter(|(_, n)| *n > MAX_LINES)
        .map(|(f, n)| format!("{f}: {n} lines"))
        .collect();
    assert!(big.is_empty(), "files over {MAX_LINES} lines: {big:?}");
}

#[test]
fn the_checker_sees_a_cycle_and_a_test_module() {
    // The checks above can fail: a two-file cycle is found, a test module does not count.
    let mut tree = Tree {
        files: BTreeMap::new(),
    };
    tree.files
        .insert("a.rs".into(), "use crate::b::Thing;\n".into());
    tree.files.insert(
        "b/mod.rs".into(),
        strip_comments(&strip_tests(
            "use crate::a::{self, Other};\n#[cfg(test)]\nmod tests { use crate::c::X; }\n",
        )),
    );
    tree.files
        .insert("c.rs".into(), strip_comments("// crate::a::gone\n"));
    let edges = tree.edges();
    assert_eq!(edges["c.rs"], BTreeSet::new());
    assert_eq!(
        edges["b/mod.rs"],
        BTreeSet::from(["a.rs".to_owned()]),
        "the test module's import of c is not counted"
    );
    assert_eq!(
        cycles(&edges),
        vec![vec!["a.rs".to_owned(), "b/mod.rs".to_owned()]]
    );
}
