//! Compiles the C++ shim (src/shim/*.cc) against the headers of the Node.js that runs the build.
//!
//! The embedder API (node.h) is C++ and version-tied, so the addon is built for one Node major.
//! Headers are looked up, in order: `NODE_INCLUDE_DIR`; `<prefix>/include/node` of the node
//! binary named by `CORRAL_NODE`, `npm_node_execpath` or found on PATH; node-gyp's cache.
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    napi_build::setup();

    for var in ["NODE_INCLUDE_DIR", "CORRAL_NODE", "npm_node_execpath", "PATH"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=src/shim");

    let (include, tried) = find_node_headers();
    let include = include.unwrap_or_else(|| {
        panic!(
            "corral: Node.js headers (node.h) not found. Looked in: {}.\n\
             Set NODE_INCLUDE_DIR to the folder holding node.h (for an official build: <prefix>/include/node).",
            tried.join(", ")
        )
    });
    let major = node_major(&include);
    println!("cargo:rustc-env=CORRAL_NODE_MAJOR={major}");
    println!("cargo:rustc-env=CORRAL_NODE_INCLUDE={}", include.display());

    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std(if major >= 22 { "c++20" } else { "c++17" })
        .include(&include)
        .flag_if_supported("-fno-rtti")
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-Wno-missing-field-initializers")
        .flag_if_supported("-Wno-cast-function-type")
        .define("NODE_WANT_INTERNALS", "0")
        .define("V8_DEPRECATION_WARNINGS", "0")
        .pic(true);
    let mut files: Vec<PathBuf> = std::fs::read_dir("src/shim")
        .expect("src/shim")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cc"))
        .collect();
    files.sort();
    build.files(&files);
    build.compile("corral_shim");

    // node::/v8:: symbols stay undefined and resolve from the node binary at load time. With
    // `-z now` a mismatch is a catchable require() error instead of a crash at first call.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,now");
}

fn find_node_headers() -> (Option<PathBuf>, Vec<String>) {
    let mut tried = Vec::new();
    let has_header = |dir: &Path| dir.join("node.h").is_file() && dir.join("v8.h").is_file();

    if let Ok(dir) = env::var("NODE_INCLUDE_DIR") {
        let dir = PathBuf::from(dir);
        tried.push(format!("NODE_INCLUDE_DIR={}", dir.display()));
        if has_header(&dir) {
            return (Some(dir), tried);
        }
    }
    let node = env::var("CORRAL_NODE")
        .or_else(|_| env::var("npm_node_execpath"))
        .unwrap_or_else(|_| "node".into());
    let out = Command::new(&node)
        .args(["-p", "process.execPath + '\\n' + process.versions.node"])
        .output();
    let mut version = None;
    match out {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            let mut lines = text.lines();
            let exec = PathBuf::from(lines.next().unwrap_or_default());
            version = lines.next().map(str::to_string);
            if let Some(prefix) = exec.parent().and_then(Path::parent) {
                let dir = prefix.join("include/node");
                tried.push(dir.display().to_string());
                if has_header(&dir) {
                    return (Some(dir), tried);
                }
            }
        }
        _ => tried.push(format!("(could not run `{node}`)")),
    }
    if let (Some(v), Ok(home)) = (version, env::var("HOME")) {
        for base in [".cache/node-gyp", ".node-gyp"] {
            let dir = Path::new(&home).join(base).join(&v).join("include/node");
            tried.push(dir.display().to_string());
            if has_header(&dir) {
                return (Some(dir), tried);
            }
        }
    }
    (None, tried)
}

fn node_major(include: &Path) -> u32 {
    let text = std::fs::read_to_string(include.join("node_version.h")).expect("node_version.h");
    text.lines()
        .find_map(|l| l.strip_prefix("#define NODE_MAJOR_VERSION "))
        .and_then(|v| v.trim().parse().ok())
        .expect("NODE_MAJOR_VERSION in node_version.h")
}
