//! Detectors: one per kind of tree, each reading the files that give the kind away.

use std::path::Path;

use windlass_plugin_sdk::types::PluginError;

/// Files larger than this are not read.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A tree this strategy can (or thinks it can) build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Project {
    /// `rust`, `go`, `node`, `python` or `static`.
    pub language: &'static str,
    /// A recognised framework.
    pub framework: Option<&'static str>,
    /// 0 to 100.
    pub confidence: u8,
    /// The files that gave it away, relative to the directory looked at.
    pub evidence: Vec<String>,
    /// How to build it, or why it cannot be built.
    pub recipe: Result<Recipe, PluginError>,
}

/// Everything the Dockerfile writer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recipe {
    /// A Cargo binary.
    Rust {
        /// The binary target's name.
        bin: String,
        /// The package to build (`-p`), in a workspace.
        package: Option<String>,
        /// Whether a `Cargo.lock` exists (`--locked`).
        locked: bool,
        /// The toolchain version for the builder image: the pinned one, else `1`.
        toolchain: String,
    },
    /// A Go module's main package.
    Go {
        /// The binary's name.
        binary: String,
        /// The package to build, e.g. `.` or `./cmd/server`.
        package: String,
        /// The Go version for the builder image: `X.Y` from `go.mod`, else `1`.
        version: String,
        /// Whether a `go.sum` exists.
        has_sum: bool,
    },
    /// A Node.js package.
    Node {
        /// Whether it declares dependencies (none, no lockfile and no build script: nothing
        /// to install, so the plan needs no package manager).
        has_deps: bool,
        /// The package manager.
        pm: PackageManager,
        /// The lockfile, when there is one.
        lockfile: Option<&'static str>,
        /// The node image's major version.
        node_major: u32,
        /// Whether `scripts.build` exists.
        build_script: bool,
        /// The start command (none for a static Vite build).
        start: Option<Vec<String>>,
        /// Serve `dist/` with nginx instead of running node (Vite).
        static_dist: bool,
    },
    /// A Python application.
    Python {
        /// The Python version for `python:X.Y-slim`.
        version: String,
        /// The install commands (none: nothing to install, no virtual environment).
        install: Vec<String>,
        /// The start command.
        start: Option<Vec<String>>,
    },
    /// Files served by nginx.
    Static,
}

/// A Node package manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PackageManager {
    Npm,
    Pnpm,
    Yarn,
    Bun,
}

impl PackageManager {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Npm => "npm",
            Self::Pnpm => "pnpm",
            Self::Yarn => "yarn",
            Self::Bun => "bun",
        }
    }

    /// The command running package script `script`.
    pub(crate) fn run(self, script: &str) -> Vec<String> {
        vec![self.name().to_owned(), "run".to_owned(), script.to_owned()]
    }
}

/// Every detector that matches `dir`, in priority order (see the crate docs).
pub(crate) fn all(dir: &Path) -> Vec<Project> {
    let mut found: Vec<Project> = [rust(dir), go(dir), python(dir), node(dir)]
        .into_iter()
        .flatten()
        .collect();
    if found.is_empty()
        && let Some(site) = static_site(dir)
    {
        found.push(site);
    }
    found
}

/// The best match: the highest confidence, ties going to the earlier detector.
pub(crate) fn best(dir: &Path) -> Option<Project> {
    let mut best: Option<Project> = None;
    for p in all(dir) {
        if best.as_ref().is_none_or(|b| p.confidence > b.confidence) {
            best = Some(p);
        }
    }
    best
}

/// Reads `dir/name`: none if it is not a file, an error if it cannot be read or is too big.
fn read(dir: &Path, name: &str) -> Option<Result<String, PluginError>> {
    let path = dir.join(name);
    let meta = std::fs::metadata(&path).ok()?;
    if !meta.is_file() {
        return None;
    }
    if meta.len() > MAX_FILE_BYTES {
        return Some(Err(PluginError::invalid_input(format!(
            "{name} is {} bytes; at most {MAX_FILE_BYTES} are read",
            meta.len()
        ))));
    }
    Some(
        std::fs::read(&path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| PluginError::invalid_input(format!("cannot read {name}: {e}"))),
    )
}

fn is_file(dir: &Path, name: &str) -> bool {
    dir.join(name).is_file()
}

/// The names of the subdirectories of `dir`, sorted.
fn subdirs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// A project that was recognised but cannot be planned.
fn broken(
    language: &'static str,
    confidence: u8,
    evidence: Vec<String>,
    error: PluginError,
) -> Project {
    Project {
        language,
        framework: None,
        confidence,
        evidence,
        recipe: Err(error),
    }
}

// ---------------------------------------------------------------------------------------------
// Rust

/// The binary targets of the package described by `manifest` in `dir`.
fn cargo_binaries(dir: &Path, manifest: &toml::Table) -> Vec<String> {
    let package = manifest.get("package").and_then(toml::Value::as_table);
    let package_name = package
        .and_then(|p| p.get("name"))
        .and_then(toml::Value::as_str);
    let mut bins: Vec<String> = manifest
        .get("bin")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|b| b.get("name").and_then(toml::Value::as_str))
        .map(str::to_owned)
        .collect();
    if let Some(name) = package_name {
        let autobins = package
            .and_then(|p| p.get("autobins"))
            .and_then(toml::Value::as_bool)
            .unwrap_or(true);
        if autobins && is_file(dir, "src/main.rs") && !bins.iter().any(|b| b == name) {
            bins.insert(0, name.to_owned());
        }
    }
    // `default-run` goes first.
    if let Some(default) = package
        .and_then(|p| p.get("default-run"))
        .and_then(toml::Value::as_str)
        && let Some(i) = bins.iter().position(|b| b == default)
    {
        let b = bins.remove(i);
        bins.insert(0, b);
    }
    bins
}

fn rust(dir: &Path) -> Option<Project> {
    let text = read(dir, "Cargo.toml")?;
    let mut evidence = vec!["Cargo.toml".to_owned()];
    let manifest = match text.and_then(|t| {
        t.parse::<toml::Table>()
            .map_err(|e| PluginError::invalid_input(format!("Cargo.toml is not valid TOML: {e}")))
    }) {
        Ok(m) => m,
        Err(e) => return Some(broken("rust", 40, evidence, e)),
    };
    let locked = is_file(dir, "Cargo.lock");
    if locked {
        evidence.push("Cargo.lock".to_owned());
    }
    let toolchain = rust_toolchain(dir, &mut evidence);

    let own = cargo_binaries(dir, &manifest);
    if manifest.contains_key("package") && !own.is_empty() {
        if is_file(dir, "src/main.rs") {
            evidence.push("src/main.rs".to_owned());
        }
        return Some(Project {
            language: "rust",
            framework: None,
            confidence: 95,
            evidence,
            recipe: Ok(Recipe::Rust {
                bin: own[0].clone(),
                package: None,
                locked,
                toolchain: toolchain.clone(),
            }),
        });
    }

    // A workspace: look for members with a binary.
    let members: Vec<String> = manifest
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_str)
        .flat_map(|m| expand_member(dir, m))
        .collect();
    let mut found = Vec::new();
    for member in &members {
        let member_dir = dir.join(member);
        let Some(Ok(text)) = read(&member_dir, "Cargo.toml") else {
            continue;
        };
        let Ok(manifest) = text.parse::<toml::Table>() else {
            continue;
        };
        let Some(name) = manifest
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(toml::Value::as_str)
        else {
            continue;
        };
        if let Some(bin) = cargo_binaries(&member_dir, &manifest).into_iter().next() {
            found.push((member.clone(), name.to_owned(), bin));
        }
    }
    if let Some((member, package, bin)) = found.first().cloned() {
        evidence.push(format!("{member}/Cargo.toml"));
        return Some(Project {
            language: "rust",
            framework: None,
            confidence: if found.len() == 1 { 85 } else { 70 },
            evidence,
            recipe: Ok(Recipe::Rust {
                bin,
                package: Some(package),
                locked,
                toolchain: toolchain.clone(),
            }),
        });
    }
    Some(broken(
        "rust",
        30,
        evidence,
        PluginError::no_match(
            "Cargo.toml declares no binary (no src/main.rs, [[bin]] or workspace member with one); build-auto builds Rust binaries only",
        ),
    ))
}

/// A workspace member pattern: a path, or `dir/*`.
fn expand_member(dir: &Path, pattern: &str) -> Vec<String> {
    match pattern.strip_suffix("/*") {
        Some(parent) if !parent.contains('*') => subdirs(&dir.join(parent))
            .into_iter()
            .map(|d| format!("{parent}/{d}"))
            .collect(),
        _ if pattern.contains('*') => Vec::new(),
        _ => vec![pattern.trim_end_matches('/').to_owned()],
    }
}

/// `X.Y(.Z)` when `rust-toolchain(.toml)` pins a numeric version, else `1`.
fn rust_toolchain(dir: &Path, evidence: &mut Vec<String>) -> String {
    let channel = if let Some(Ok(text)) = read(dir, "rust-toolchain.toml") {
        evidence.push("rust-toolchain.toml".to_owned());
        text.parse::<toml::Table>().ok().and_then(|t| {
            t.get("toolchain")?
                .get("channel")?
                .as_str()
                .map(str::to_owned)
        })
    } else if let Some(Ok(text)) = read(dir, "rust-toolchain") {
        evidence.push("rust-toolchain".to_owned());
        text.lines().next().map(|l| l.trim().to_owned())
    } else {
        None
    };
    match channel {
        Some(c) if is_version(&c) => c,
        _ => "1".to_owned(),
    }
}

/// `1.80` or `1.80.1`.
fn is_version(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

// ---------------------------------------------------------------------------------------------
// Go

fn go(dir: &Path) -> Option<Project> {
    let text = read(dir, "go.mod")?;
    let mut evidence = vec!["go.mod".to_owned()];
    let text = match text {
        Ok(t) => t,
        Err(e) => return Some(broken("go", 40, evidence, e)),
    };
    let mut module = None;
    let mut version = None;
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("").trim();
        if let Some(m) = line.strip_prefix("module ") {
            module = Some(m.trim().trim_matches('"').to_owned());
        } else if let Some(v) = line.strip_prefix("go ") {
            version = Some(v.trim().to_owned());
        }
    }
    let Some(module) = module.filter(|m| !m.is_empty()) else {
        return Some(broken(
            "go",
            40,
            evidence,
            PluginError::invalid_input("go.mod has no `module` line"),
        ));
    };
    let has_sum = is_file(dir, "go.sum");
    if has_sum {
        evidence.push("go.sum".to_owned());
    }
    // `example.com/svc/v2` builds a binary named `svc`.
    let mut segments: Vec<&str> = module.split('/').collect();
    if segments.len() > 1
        && segments.last().is_some_and(|s| {
            s.len() > 1 && s.starts_with('v') && s[1..].bytes().all(|b| b.is_ascii_digit())
        })
    {
        segments.pop();
    }
    let mut binary = sanitize(segments.last().copied().unwrap_or("app"));
    let (package, confidence) = if is_file(dir, "main.go") {
        evidence.push("main.go".to_owned());
        (".".to_owned(), 95)
    } else {
        let cmds: Vec<String> = subdirs(&dir.join("cmd"))
            .into_iter()
            .filter(|d| is_file(dir, &format!("cmd/{d}/main.go")))
            .collect();
        let pick = cmds
            .iter()
            .find(|d| **d == binary)
            .or_else(|| cmds.first())
            .cloned();
        match pick {
            Some(cmd) => {
                evidence.push(format!("cmd/{cmd}/main.go"));
                binary = sanitize(&cmd);
                (format!("./cmd/{cmd}"), 90)
            }
            None => (".".to_owned(), 60),
        }
    };
    // `go 1.22.3` → `1.22`.
    let version = version
        .as_deref()
        .map(|v| v.split('.').take(2).collect::<Vec<_>>().join("."))
        .filter(|v| is_version(v))
        .unwrap_or_else(|| "1".to_owned());
    Some(Project {
        language: "go",
        framework: None,
        confidence,
        evidence,
        recipe: Ok(Recipe::Go {
            binary,
            package,
            version,
            has_sum,
        }),
    })
}

/// A file name made of `[A-Za-z0-9._-]`.
fn sanitize(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if clean.is_empty() || clean.starts_with('.') {
        "app".to_owned()
    } else {
        clean
    }
}

// ---------------------------------------------------------------------------------------------
// Node

fn node(dir: &Path) -> Option<Project> {
    let text = read(dir, "package.json")?;
    let mut evidence = vec!["package.json".to_owned()];
    let json = match text.and_then(|t| {
        serde_json::from_str::<serde_json::Value>(&t)
            .map_err(|e| PluginError::invalid_input(format!("package.json is not valid JSON: {e}")))
    }) {
        Ok(j) => j,
        Err(e) => return Some(broken("node", 40, evidence, e)),
    };
    let has_dep = |name: &str| {
        ["dependencies", "devDependencies"]
            .iter()
            .any(|key| json.get(key).and_then(|d| d.get(name)).is_some())
    };
    let script = |name: &str| {
        json.get("scripts")
            .and_then(|s| s.get(name))
            .and_then(serde_json::Value::as_str)
            .is_some()
    };

    // The package manager: `packageManager`, else the lockfile, else npm.
    const LOCKFILES: [(&str, PackageManager); 6] = [
        ("bun.lock", PackageManager::Bun),
        ("bun.lockb", PackageManager::Bun),
        ("pnpm-lock.yaml", PackageManager::Pnpm),
        ("yarn.lock", PackageManager::Yarn),
        ("package-lock.json", PackageManager::Npm),
        ("npm-shrinkwrap.json", PackageManager::Npm),
    ];
    let lock = LOCKFILES.into_iter().find(|(f, _)| is_file(dir, f));
    if let Some((file, _)) = lock {
        evidence.push(file.to_owned());
    }
    let declared = json
        .get("packageManager")
        .and_then(serde_json::Value::as_str)
        .and_then(|pm| match pm.split('@').next() {
            Some("npm") => Some(PackageManager::Npm),
            Some("pnpm") => Some(PackageManager::Pnpm),
            Some("yarn") => Some(PackageManager::Yarn),
            Some("bun") => Some(PackageManager::Bun),
            _ => None,
        });
    let pm = declared
        .or(lock.map(|(_, pm)| pm))
        .unwrap_or(PackageManager::Npm);
    let lockfile = lock.filter(|(_, p)| *p == pm).map(|(f, _)| f);

    let framework = if has_dep("next") {
        Some("next")
    } else if has_dep("vite") {
        Some("vite")
    } else if has_dep("express") {
        Some("express")
    } else {
        None
    };

    let static_dist = framework == Some("vite") && !script("start");
    let start = if static_dist {
        None
    } else if script("start") {
        Some(pm.run("start"))
    } else if framework == Some("next") {
        Some(vec!["npx".into(), "next".into(), "start".into()])
    } else if let Some(main) = json
        .get("main")
        .and_then(serde_json::Value::as_str)
        .filter(|m| is_file(dir, m))
    {
        evidence.push(main.to_owned());
        Some(vec!["node".into(), main.to_owned()])
    } else if let Some(file) = ["server.js", "index.js", "app.js", "main.js"]
        .into_iter()
        .find(|f| is_file(dir, f))
    {
        evidence.push(file.to_owned());
        Some(vec!["node".into(), file.to_owned()])
    } else {
        None
    };

    let has_deps = ["dependencies", "devDependencies", "optionalDependencies"]
        .iter()
        .any(|key| {
            json.get(key)
                .and_then(serde_json::Value::as_object)
                .is_some_and(|d| !d.is_empty())
        });

    let node_major = json
        .get("engines")
        .and_then(|e| e.get("node"))
        .and_then(serde_json::Value::as_str)
        .map_or(20, node_major);

    Some(Project {
        language: "node",
        framework,
        confidence: if start.is_some() || static_dist {
            90
        } else {
            60
        },
        evidence,
        recipe: Ok(Recipe::Node {
            has_deps,
            pm,
            lockfile,
            node_major,
            build_script: script("build"),
            start,
            static_dist,
        }),
    })
}

/// The node major version for an `engines.node` range: an exact major (`18`, `18.x`, `^18.2`,
/// `~18`) is used as is; a lower bound (`>=16`) gets 20 or that bound if higher; else 20.
fn node_major(range: &str) -> u32 {
    const DEFAULT: u32 = 20;
    let range = range.trim();
    let lower_bound = range.starts_with('>');
    let digits: String = range
        .trim_start_matches(['>', '=', '^', '~', 'v', ' '])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    match digits.parse::<u32>() {
        Ok(major) if (4..=99).contains(&major) && lower_bound => major.max(DEFAULT),
        Ok(major) if (4..=99).contains(&major) && !range.contains(['|', ' ', '<']) => major,
        _ => DEFAULT,
    }
}

// ---------------------------------------------------------------------------------------------
// Python

/// A PEP 508 requirement's normalised name (`Flask[async]>=2` → `flask`).
fn requirement_name(req: &str) -> Option<String> {
    let name: String = req
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .collect();
    (!name.is_empty()).then(|| name.to_ascii_lowercase().replace(['_', '.'], "-"))
}

fn python(dir: &Path) -> Option<Project> {
    let files: Vec<&str> = ["requirements.txt", "pyproject.toml", "Pipfile"]
        .into_iter()
        .filter(|f| is_file(dir, f))
        .collect();
    if files.is_empty() {
        return None;
    }
    let mut evidence: Vec<String> = files.iter().map(|f| (*f).to_owned()).collect();
    let mut deps: Vec<String> = Vec::new();

    let mut requirements_lines = 0;
    if let Some(text) = read(dir, "requirements.txt") {
        match text {
            Ok(t) => deps.extend(
                t.lines()
                    .map(|l| l.split('#').next().unwrap_or("").trim())
                    .filter(|l| !l.is_empty())
                    .inspect(|_| requirements_lines += 1)
                    .filter(|l| !l.starts_with('-'))
                    .filter_map(requirement_name),
            ),
            Err(e) => return Some(broken("python", 40, evidence, e)),
        }
    }
    if let Some(text) = read(dir, "pyproject.toml") {
        let table = match text.and_then(|t| {
            t.parse::<toml::Table>().map_err(|e| {
                PluginError::invalid_input(format!("pyproject.toml is not valid TOML: {e}"))
            })
        }) {
            Ok(t) => t,
            Err(e) => return Some(broken("python", 40, evidence, e)),
        };
        let project_deps = table
            .get("project")
            .and_then(|p| p.get("dependencies"))
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(toml::Value::as_str)
            .filter_map(requirement_name);
        let poetry_deps = table
            .get("tool")
            .and_then(|t| t.get("poetry"))
            .and_then(|p| p.get("dependencies"))
            .and_then(toml::Value::as_table)
            .into_iter()
            .flat_map(|t| t.keys())
            .filter(|k| *k != "python")
            .filter_map(|k| requirement_name(k));
        deps.extend(project_deps.chain(poetry_deps));
    }
    if let Some(text) = read(dir, "Pipfile") {
        let table = match text.and_then(|t| {
            t.parse::<toml::Table>()
                .map_err(|e| PluginError::invalid_input(format!("Pipfile is not valid TOML: {e}")))
        }) {
            Ok(t) => t,
            Err(e) => return Some(broken("python", 40, evidence, e)),
        };
        deps.extend(
            table
                .get("packages")
                .and_then(toml::Value::as_table)
                .into_iter()
                .flat_map(|t| t.keys())
                .filter_map(|k| requirement_name(k)),
        );
    }
    let has = |name: &str| deps.iter().any(|d| d == name);

    let framework = if has("django") {
        Some("django")
    } else if has("fastapi") {
        Some("fastapi")
    } else if has("flask") {
        Some("flask")
    } else {
        None
    };

    let mut install = Vec::new();
    if is_file(dir, "requirements.txt") {
        // An empty one (or only comments) is a standard-library application: nothing to
        // install, so no pip and no virtual environment are needed.
        if requirements_lines > 0 {
            install.push("pip install --no-cache-dir -r requirements.txt".to_owned());
        }
    } else if is_file(dir, "pyproject.toml") {
        install.push("pip install --no-cache-dir .".to_owned());
    } else {
        install.push("pip install --no-cache-dir pipenv".to_owned());
        if is_file(dir, "Pipfile.lock") {
            evidence.push("Pipfile.lock".to_owned());
            install.push("pipenv install --deploy".to_owned());
        } else {
            install.push("pipenv install --skip-lock".to_owned());
        }
    }

    let bind = "0.0.0.0:8080";
    let module = ["app.py", "main.py", "wsgi.py", "asgi.py", "server.py"]
        .into_iter()
        .find(|f| is_file(dir, f))
        .or_else(|| is_file(dir, "app/__init__.py").then_some("app/__init__.py"));
    let module_name = |file: &str| {
        file.trim_end_matches("/__init__.py")
            .trim_end_matches(".py")
            .to_owned()
    };
    let strings = |words: &[&str]| words.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
    let start = match framework {
        Some("django") => {
            let wsgi = subdirs(dir)
                .into_iter()
                .find(|d| is_file(dir, &format!("{d}/wsgi.py")));
            if is_file(dir, "manage.py") {
                evidence.push("manage.py".to_owned());
            }
            match wsgi {
                Some(project) if has("gunicorn") => {
                    evidence.push(format!("{project}/wsgi.py"));
                    Some(strings(&[
                        "gunicorn",
                        "--bind",
                        bind,
                        &format!("{project}.wsgi"),
                    ]))
                }
                _ if is_file(dir, "manage.py") => {
                    Some(strings(&["python3", "manage.py", "runserver", bind]))
                }
                _ => None,
            }
        }
        Some("fastapi") => module.map(|file| {
            evidence.push(file.to_owned());
            if !has("uvicorn") {
                install.push("pip install --no-cache-dir uvicorn".to_owned());
            }
            strings(&[
                "uvicorn",
                &format!("{}:app", module_name(file)),
                "--host",
                "0.0.0.0",
                "--port",
                "8080",
            ])
        }),
        Some(_flask) => module.map(|file| {
            evidence.push(file.to_owned());
            let name = module_name(file);
            if has("gunicorn") {
                strings(&["gunicorn", "--bind", bind, &format!("{name}:app")])
            } else {
                strings(&[
                    "flask", "--app", &name, "run", "--host", "0.0.0.0", "--port", "8080",
                ])
            }
        }),
        None => ["main.py", "app.py", "server.py"]
            .into_iter()
            .find(|f| is_file(dir, f))
            .map(|file| {
                evidence.push(file.to_owned());
                strings(&["python3", file])
            }),
    };

    let version = python_version(dir, &mut evidence);
    let confidence = match (framework, &start) {
        (Some(_), Some(_)) => 90,
        (None, Some(_)) => 75,
        _ => 60,
    };
    Some(Project {
        language: "python",
        framework,
        confidence,
        evidence,
        recipe: Ok(Recipe::Python {
            version,
            install,
            start,
        }),
    })
}

/// `X.Y` from `.python-version` or `runtime.txt` (`python-3.11.4`), else `3.12`.
fn python_version(dir: &Path, evidence: &mut Vec<String>) -> String {
    for (file, prefix) in [(".python-version", ""), ("runtime.txt", "python-")] {
        if let Some(Ok(text)) = read(dir, file) {
            let line = text.lines().next().unwrap_or("").trim();
            let version = line.strip_prefix(prefix).unwrap_or(line);
            let major_minor = version.split('.').take(2).collect::<Vec<_>>().join(".");
            if is_version(&major_minor) {
                evidence.push(file.to_owned());
                return major_minor;
            }
        }
    }
    "3.12".to_owned()
}

// ---------------------------------------------------------------------------------------------
// Static

fn static_site(dir: &Path) -> Option<Project> {
    is_file(dir, "index.html").then(|| Project {
        language: "static",
        framework: None,
        confidence: 50,
        evidence: vec!["index.html".to_owned()],
        recipe: Ok(Recipe::Static),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_majors() {
        assert_eq!(node_major("18"), 18);
        assert_eq!(node_major("18.x"), 18);
        assert_eq!(node_major("^18.2.0"), 18);
        assert_eq!(node_major("~22"), 22);
        assert_eq!(node_major(">=16"), 20);
        assert_eq!(node_major(">= 22.1"), 22);
        assert_eq!(node_major("16 || 18"), 20);
        assert_eq!(node_major("*"), 20);
        assert_eq!(node_major("lts"), 20);
    }

    #[test]
    fn requirement_names() {
        assert_eq!(requirement_name("Flask[async]>=2.0"), Some("flask".into()));
        assert_eq!(
            requirement_name("Django==5.0 ; python_version > '3.8'"),
            Some("django".into())
        );
        assert_eq!(
            requirement_name("typing_extensions"),
            Some("typing-extensions".into())
        );
        assert_eq!(requirement_name(">=1"), None);
    }

    #[test]
    fn versions() {
        assert!(is_version("1.80"));
        assert!(is_version("1.80.1"));
        assert!(!is_version("stable"));
        assert!(!is_version("1"));
        assert!(!is_version("1..2"));
        assert!(!is_version("nightly-2024-01-01"));
    }

    #[test]
    fn sanitizes_names() {
        assert_eq!(sanitize("svc"), "svc");
        assert_eq!(sanitize("my svc!"), "my-svc-");
        assert_eq!(sanitize(".."), "app");
    }
}
