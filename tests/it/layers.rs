//! The design, checked: data flows one way through the layers of `src/`,
//! no module imports one above it, and no files import each other in a
//! circle. (`ARCHITECTURE.md` describes the layers; this test keeps it true.)
//!
//! Imports are read from the source text: every `crate::…`, `super::…` and
//! (in `main.rs`) `chime_exporter::…` path outside comments and outside the
//! `#[cfg(test)]` module at the end of a file (tests may reach anywhere).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The layers, bottom first. A file may import files of its own layer and
/// of the layers below it.
const LAYERS: [(&str, u32); 12] = [
    ("memory", 0),
    ("version", 0),
    ("config", 1),
    ("api", 2),
    ("collect", 3),
    ("expose", 4),
    ("http", 5),
    ("logging", 6),
    ("startup", 7),
    ("check", 7),
    ("lib", 8),
    ("main", 9),
];

/// The fake API stands apart: it imports nothing of the exporter, and only
/// these import it.
const FAKE: &str = "fake";
const MAY_IMPORT_FAKE: [&str; 3] = ["startup", "lib", "main"];

fn rank(unit: &str) -> Option<u32> {
    LAYERS.iter().find(|(u, _)| *u == unit).map(|(_, r)| *r)
}

/// A source file, as a module path (`["collect", "cache"]`; `mod.rs` is its
/// folder's module; `lib.rs` is `[]`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Module(Vec<String>);

impl Module {
    fn of(src: &Path, file: &Path) -> Module {
        let rel = file.strip_prefix(src).unwrap();
        let mut parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
            .collect();
        if parts.last().map(String::as_str) == Some("mod") || parts == ["lib"] {
            parts.pop();
        }
        Module(parts)
    }

    /// Its layer: the first component (`lib` for `lib.rs`).
    fn unit(&self) -> String {
        self.0.first().cloned().unwrap_or_else(|| "lib".into())
    }

    fn name(&self) -> String {
        if self.0.is_empty() {
            "lib".into()
        } else {
            self.0.join("::")
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comments and without its test module.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every module path a file's code names: `crate::a::b`, `super::x`,
/// `chime_exporter::a`, with brace groups expanded one level.
fn paths(code: &str) -> Vec<Vec<String>> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        if !ident(bytes[i]) || (i > 0 && (ident(bytes[i - 1]) || bytes[i - 1] == b':')) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && ident(bytes[i]) {
            i += 1;
        }
        let first = &code[start..i];
        if !["crate", "super", "chime_exporter"].contains(&first) {
            continue;
        }
        let mut path = vec![first.to_owned()];
        loop {
            if !code[i..].starts_with("::") {
                break;
            }
            i += 2;
            if code[i..].starts_with('{') {
                // A brace group: each item is a path of its own.
                let end = code[i..].find('}').map_or(code.len(), |e| i + e);
                for item in code[i + 1..end].split(',') {
                    let item: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                        .collect();
                    let mut p = path.clone();
                    p.extend(
                        item.split("::")
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned),
                    );
                    out.push(p);
                }
                i = end;
                break;
            }
            let s = i;
            while i < bytes.len() && ident(bytes[i]) {
                i += 1;
            }
            if s == i {
                break;
            }
            path.push(code[s..i].to_owned());
        }
        // `pub(crate)` and the like name no module.
        if path.len() > 1 {
            out.push(path);
        }
    }
    out
}

/// The file a path names: the longest prefix that is a module.
fn resolve(from: &Module, path: &[String], modules: &BTreeSet<Module>) -> Option<Module> {
    let mut base: Vec<String> = match path.first().map(String::as_str) {
        Some("crate" | "chime_exporter") => Vec::new(),
        Some("super") => {
            let mut b = from.0.clone();
            b.pop();
            b
        }
        _ => return None,
    };
    let mut rest = &path[1..];
    while rest.first().map(String::as_str) == Some("super") {
        base.pop();
        rest = &rest[1..];
    }
    let mut best = Module(base.clone());
    for segment in rest {
        base.push(segment.clone());
        if modules.contains(&Module(base.clone())) {
            best = Module(base.clone());
        } else {
            break;
        }
    }
    Some(best)
}

struct Graph {
    edges: BTreeMap<Module, BTreeSet<Module>>,
    units: BTreeMap<Module, String>,
}

fn graph() -> Graph {
    let src = Path::new(ROOT).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeMap<Module, PathBuf> = files
        .iter()
        .filter(|f| !f.ends_with("main.rs"))
        .map(|f| (Module::of(&src, f), f.clone()))
        .collect();
    let names: BTreeSet<Module> = modules.keys().cloned().collect();
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    let mut units = BTreeMap::new();
    let main = Module(vec!["main".into()]);
    let all = modules
        .iter()
        .map(|(m, f)| (m.clone(), f.clone()))
        .chain([(main.clone(), src.join("main.rs"))]);
    for (module, file) in all {
        let unit = if module == main {
            "main".to_owned()
        } else {
            module.unit()
        };
        units.insert(module.clone(), unit);
        let text = std::fs::read_to_string(&file).unwrap();
        let targets = edges.entry(module.clone()).or_default();
        for path in paths(&code(&text)) {
            if let Some(target) = resolve(&module, &path, &names) {
                if target != module {
                    targets.insert(target);
                }
            }
        }
    }
    Graph { edges, units }
}

#[test]
fn no_module_imports_a_layer_above_it() {
    let g = graph();
    assert!(g.edges.len() >= 30, "only {} modules read", g.edges.len());
    let mut wrong = Vec::new();
    for (from, targets) in &g.edges {
        let from_unit = &g.units[from];
        for to in targets {
            let to_unit = &g.units[to];
            if from_unit == to_unit {
                continue;
            }
            let ok = if from_unit == FAKE {
                false
            } else if to_unit == FAKE {
                MAY_IMPORT_FAKE.contains(&from_unit.as_str())
            } else {
                match (rank(from_unit), rank(to_unit)) {
                    (Some(a), Some(b)) => a >= b,
                    _ => false,
                }
            };
            if !ok {
                wrong.push(format!(
                    "{} ({from_unit}) imports {} ({to_unit})",
                    from.name(),
                    to.name()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the flow:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_files_import_each_other_in_a_circle() {
    let g = graph();
    // Depth-first search for a back edge; report the circle it closes.
    fn visit(
        m: &Module,
        g: &Graph,
        stack: &mut Vec<Module>,
        done: &mut BTreeSet<Module>,
        circles: &mut Vec<String>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(at) = stack.iter().position(|s| s == m) {
            let names: Vec<String> = stack[at..].iter().map(Module::name).collect();
            circles.push(format!("{} -> {}", names.join(" -> "), m.name()));
            return;
        }
        stack.push(m.clone());
        for next in g.edges.get(m).into_iter().flatten() {
            visit(next, g, stack, done, circles);
        }
        stack.pop();
        done.insert(m.clone());
    }
    let mut circles = Vec::new();
    let mut done = BTreeSet::new();
    for m in g.edges.keys() {
        visit(m, &g, &mut Vec::new(), &mut done, &mut circles);
    }
    assert!(circles.is_empty(), "circles:\n{}", circles.join("\n"));
}

#[test]
fn the_check_sees_what_it_should() {
    // The reader of paths, on the forms the code uses.
    let found = paths("use super::target::{Target, Watched};\nuse crate::api::{self, ApiMetrics};\nlet x = crate::memory::note_freed(); // crate::http::no\n");
    assert!(found.contains(&vec!["super".into(), "target".into(), "Target".into()]));
    assert!(found.contains(&vec!["crate".into(), "memory".into(), "note_freed".into()]));
    let found = paths(&code("pub(crate) fn y() {} // crate::http::x\n"));
    assert!(found.is_empty(), "{found:?}");
    // And on the real tree: the graph holds the edges every reader expects.
    let g = graph();
    let m = |s: &str| Module(s.split("::").map(str::to_owned).collect());
    assert!(g.edges[&m("collect::cache")].contains(&m("collect::target")));
    assert!(g.edges[&m("expose::render")].contains(&m("collect")));
    assert!(g.edges[&m("startup")].contains(&m("fake")));
    assert!(g.edges[&Module(vec!["main".into()])].contains(&m("config")));
}
