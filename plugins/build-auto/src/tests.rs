use super::*;

/// A fresh directory under the system temp dir, removed on drop.
struct Tree(PathBuf);

impl Tree {
    fn new(files: &[(&str, &str)]) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "build-auto-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for (path, content) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        Self(dir)
    }

    fn detect(&self) -> Option<Detection> {
        detect(&self.0)
    }

    fn plan(&self) -> Result<BuildPlan, PluginError> {
        plan(&self.0, options(&[], None), &[])
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn options(args: &[(&str, &str)], sub: Option<&str>) -> BuildOptions {
    BuildOptions {
        image_tag: "acme/app:rev-1".into(),
        build_args: args
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        subdirectory: sub.map(str::to_owned),
    }
}

fn inline(plan: &BuildPlan) -> &str {
    match &plan.dockerfile {
        DockerfileSource::Inline(text) => text,
        DockerfileSource::Path(p) => panic!("expected an inline Dockerfile, got path {p}"),
    }
}

fn phase<'a>(plan: &'a BuildPlan, name: &str) -> &'a [String] {
    &plan
        .phases
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no phase {name}"))
        .commands
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

#[test]
fn rust_package() {
    let tree = Tree::new(&[
        (
            "Cargo.toml",
            "[package]\nname = \"hello-api\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        ),
        ("Cargo.lock", ""),
        ("src/main.rs", "fn main() {}"),
    ]);
    let d = tree.detect().unwrap();
    assert_eq!((d.language.as_str(), d.confidence), ("rust", 95));
    assert_eq!(d.evidence, ["Cargo.toml", "Cargo.lock", "src/main.rs"]);
    let plan = tree.plan().unwrap();
    assert_eq!(plan.language, "rust");
    let text = inline(&plan);
    assert!(text.contains("FROM rust:1-slim AS build"), "{text}");
    assert!(
        text.contains("RUN cargo build --release --locked --bin hello-api"),
        "{text}"
    );
    assert!(
        text.contains("COPY --from=build /src/target/release/hello-api /usr/local/bin/hello-api")
    );
    assert!(
        text.contains("CMD [\"/usr/local/bin/hello-api\"]"),
        "{text}"
    );
    assert_eq!(
        plan.start_command,
        Some(strings(&["/usr/local/bin/hello-api"]))
    );
    assert_eq!(plan.ports, [8080]);
    assert_eq!(plan.context, ".");
    assert_eq!(plan.image_tag, "acme/app:rev-1");
    assert_eq!(phase(&plan, "install"), ["cargo fetch --locked"]);
    assert_eq!(phase(&plan, "start"), ["/usr/local/bin/hello-api"]);
}

#[test]
fn rust_bins_and_toolchain() {
    let tree = Tree::new(&[
        (
            "Cargo.toml",
            "[package]\nname = \"tools\"\ndefault-run = \"server\"\n\n[[bin]]\nname = \"cli\"\npath = \"src/cli.rs\"\n\n[[bin]]\nname = \"server\"\npath = \"src/server.rs\"\n",
        ),
        ("rust-toolchain.toml", "[toolchain]\nchannel = \"1.80.1\"\n"),
    ]);
    let plan = tree.plan().unwrap();
    let text = inline(&plan);
    assert!(text.contains("FROM rust:1.80.1-slim AS build"), "{text}");
    assert!(
        text.contains("cargo build --release --bin server"),
        "{text}"
    );
    assert!(
        tree.detect()
            .unwrap()
            .evidence
            .contains(&"rust-toolchain.toml".to_owned())
    );
}

#[test]
fn rust_workspace() {
    let tree = Tree::new(&[
        ("Cargo.toml", "[workspace]\nmembers = [\"crates/*\"]\n"),
        ("crates/core/Cargo.toml", "[package]\nname = \"core\"\n"),
        ("crates/core/src/lib.rs", ""),
        ("crates/server/Cargo.toml", "[package]\nname = \"server\"\n"),
        ("crates/server/src/main.rs", "fn main() {}"),
    ]);
    let d = tree.detect().unwrap();
    assert_eq!(d.confidence, 85);
    assert!(d.evidence.contains(&"crates/server/Cargo.toml".to_owned()));
    let text = inline(&tree.plan().unwrap()).to_owned();
    assert!(
        text.contains("cargo build --release -p server --bin server"),
        "{text}"
    );
}

#[test]
fn rust_library_cannot_be_planned() {
    let tree = Tree::new(&[
        ("Cargo.toml", "[package]\nname = \"lib\"\n"),
        ("src/lib.rs", ""),
    ]);
    assert_eq!(tree.detect().unwrap().confidence, 30);
    let err = tree.plan().unwrap_err();
    assert_eq!(err.code, "no-match");
    assert!(err.message.contains("binary"), "{}", err.message);
}

#[test]
fn broken_manifests_detect_but_fail_to_plan() {
    let tree = Tree::new(&[("Cargo.toml", "[package\nname=")]);
    let d = tree.detect().unwrap();
    assert_eq!((d.language.as_str(), d.confidence), ("rust", 40));
    let err = tree.plan().unwrap_err();
    assert_eq!(err.code, "invalid-input");
    assert!(err.message.contains("Cargo.toml"), "{}", err.message);

    let tree = Tree::new(&[("package.json", "{ not json")]);
    assert_eq!(tree.detect().unwrap().language, "node");
    assert!(tree.plan().unwrap_err().message.contains("package.json"));
}

#[test]
fn go_module() {
    let tree = Tree::new(&[
        (
            "go.mod",
            "module github.com/acme/shop-api/v2\n\ngo 1.22.3\n\nrequire example.com/x v1.0.0\n",
        ),
        ("go.sum", ""),
        ("main.go", "package main"),
    ]);
    let d = tree.detect().unwrap();
    assert_eq!((d.language.as_str(), d.confidence), ("go", 95));
    assert_eq!(d.evidence, ["go.mod", "go.sum", "main.go"]);
    let plan = tree.plan().unwrap();
    let text = inline(&plan);
    assert!(text.contains("FROM golang:1.22 AS build"), "{text}");
    assert!(text.contains("COPY go.mod go.sum ./"), "{text}");
    assert!(text.contains("-o /out/shop-api ."), "{text}");
    assert!(
        text.contains("FROM gcr.io/distroless/static-debian12"),
        "{text}"
    );
    assert_eq!(
        plan.start_command,
        Some(strings(&["/usr/local/bin/shop-api"]))
    );
    assert_eq!(phase(&plan, "install"), ["go mod download"]);
}

#[test]
fn go_cmd_layout() {
    let tree = Tree::new(&[
        ("go.mod", "module example.com/tools\n"),
        ("cmd/migrate/main.go", "package main"),
        ("cmd/server/main.go", "package main"),
    ]);
    let d = tree.detect().unwrap();
    assert_eq!(d.confidence, 90);
    let plan = tree.plan().unwrap();
    let text = inline(&plan);
    assert!(text.contains("FROM golang:1 AS build"), "{text}");
    assert!(text.contains("COPY go.mod ./"), "{text}");
    assert!(text.contains("-o /out/migrate ./cmd/migrate"), "{text}");
}

#[test]
fn node_next_with_pnpm() {
    let tree = Tree::new(&[
        (
            "package.json",
            r#"{"name":"web","scripts":{"build":"next build","start":"next start"},"dependencies":{"next":"14","react":"18"},"engines":{"node":">=18"}}"#,
        ),
        ("pnpm-lock.yaml", ""),
    ]);
    let d = tree.detect().unwrap();
    assert_eq!(d.language, "node");
    assert_eq!(d.framework.as_deref(), Some("next"));
    assert_eq!(d.confidence, 90);
    assert_eq!(d.evidence, ["package.json", "pnpm-lock.yaml"]);
    let plan = tree.plan().unwrap();
    let text = inline(&plan);
    assert!(text.contains("FROM node:20-slim AS build"), "{text}");
    assert!(
        text.contains("COPY package.json pnpm-lock.yaml ./"),
        "{text}"
    );
    assert!(
        text.contains("corepack enable && pnpm install --frozen-lockfile"),
        "{text}"
    );
    assert!(text.contains("RUN pnpm run build"), "{text}");
    assert!(text.contains("ENV NODE_ENV=production PORT=8080"), "{text}");
    assert_eq!(plan.start_command, Some(strings(&["pnpm", "run", "start"])));
    assert_eq!(plan.ports, [8080]);
    assert_eq!(phase(&plan, "build"), ["pnpm run build"]);
}

#[test]
fn node_package_managers() {
    for (lock, pm, install) in [
        ("package-lock.json", "npm", "npm ci"),
        ("yarn.lock", "yarn", "yarn install --frozen-lockfile"),
        ("bun.lockb", "bun", "bun install --frozen-lockfile"),
        ("bun.lock", "bun", "bun install --frozen-lockfile"),
    ] {
        let tree = Tree::new(&[
            ("package.json", r#"{"scripts":{"start":"node index.js"}}"#),
            (lock, ""),
        ]);
        let plan = tree.plan().unwrap();
        let text = inline(&plan);
        assert!(text.contains(install), "{lock}: {text}");
        assert_eq!(
            plan.start_command,
            Some(strings(&[pm, "run", "start"])),
            "{lock}"
        );
    }
    // No lockfile: npm install. `packageManager` beats the lockfile.
    let tree = Tree::new(&[(
        "package.json",
        r#"{"scripts":{"start":"x"},"dependencies":{"ws":"8"}}"#,
    )]);
    assert!(inline(&tree.plan().unwrap()).contains("RUN npm install\n"));
    let tree = Tree::new(&[
        (
            "package.json",
            r#"{"packageManager":"yarn@4.1.0","scripts":{"start":"x"},"dependencies":{"ws":"8"}}"#,
        ),
        ("package-lock.json", ""),
    ]);
    let text = inline(&tree.plan().unwrap()).to_owned();
    assert!(
        text.contains("yarn install\n") && text.contains("COPY package.json ./"),
        "{text}"
    );
}

#[test]
fn node_express_without_start_script() {
    let tree = Tree::new(&[
        (
            "package.json",
            r#"{"main":"src/server.js","dependencies":{"express":"^4"},"engines":{"node":"18.x"}}"#,
        ),
        ("src/server.js", ""),
    ]);
    let d = tree.detect().unwrap();
    assert_eq!(d.framework.as_deref(), Some("express"));
    assert!(d.evidence.contains(&"src/server.js".to_owned()));
    let plan = tree.plan().unwrap();
    assert!(inline(&plan).contains("FROM node:18-slim"));
    assert_eq!(
        plan.start_command,
        Some(strings(&["node", "src/server.js"]))
    );
}

#[test]
fn node_vite_is_served_by_nginx() {
    let tree = Tree::new(&[
        (
            "package.json",
            r#"{"scripts":{"build":"vite build"},"devDependencies":{"vite":"^5"}}"#,
        ),
        ("package-lock.json", ""),
    ]);
    let d = tree.detect().unwrap();
    assert_eq!(d.framework.as_deref(), Some("vite"));
    let plan = tree.plan().unwrap();
    let text = inline(&plan);
    assert!(text.contains("RUN npm run build"), "{text}");
    assert!(text.contains("FROM nginx:alpine"), "{text}");
    assert!(
        text.contains("COPY --from=build /app/dist /usr/share/nginx/html"),
        "{text}"
    );
    assert_eq!(plan.ports, [80]);
    assert_eq!(
        plan.start_command,
        Some(strings(&["nginx", "-g", "daemon off;"]))
    );
}

#[test]
fn node_without_start_fails_clearly() {
    let tree = Tree::new(&[("package.json", r#"{"name":"lib"}"#)]);
    assert_eq!(tree.detect().unwrap().confidence, 60);
    let err = tree.plan().unwrap_err();
    assert_eq!(err.code, "no-match");
    assert!(err.message.contains("scripts.start"), "{}", err.message);
}

#[test]
fn python_flask_with_gunicorn() {
    let tree = Tree::new(&[
        (
            "requirements.txt",
            "# deps\nFlask==3.0.0\ngunicorn>=21 ; sys_platform != 'win32'\n-r extra.txt\n",
        ),
        ("app.py", "app = Flask(__name__)"),
        (".python-version", "3.11.9\n"),
    ]);
    let d = tree.detect().unwrap();
    assert_eq!(d.language, "python");
    assert_eq!(d.framework.as_deref(), Some("flask"));
    assert_eq!(d.confidence, 90);
    assert_eq!(
        d.evidence,
        ["requirements.txt", "app.py", ".python-version"]
    );
    let plan = tree.plan().unwrap();
    let text = inline(&plan);
    assert!(text.contains("FROM python:3.11-slim AS build"), "{text}");
    assert!(
        text.contains("RUN pip install --no-cache-dir -r requirements.txt"),
        "{text}"
    );
    assert_eq!(
        plan.start_command,
        Some(strings(&["gunicorn", "--bind", "0.0.0.0:8080", "app:app"]))
    );
}

#[test]
fn python_fastapi_from_pyproject() {
    let tree = Tree::new(&[
        (
            "pyproject.toml",
            "[project]\nname = \"svc\"\ndependencies = [\"fastapi[standard]>=0.110\", \"sqlalchemy\"]\n",
        ),
        ("main.py", ""),
    ]);
    let d = tree.detect().unwrap();
    assert_eq!(d.framework.as_deref(), Some("fastapi"));
    let plan = tree.plan().unwrap();
    let text = inline(&plan);
    assert!(text.contains("FROM python:3.12-slim AS build"), "{text}");
    assert!(
        text.contains("RUN pip install --no-cache-dir .\n"),
        "{text}"
    );
    assert!(
        text.contains("RUN pip install --no-cache-dir uvicorn"),
        "{text}"
    );
    assert_eq!(
        plan.start_command,
        Some(strings(&[
            "uvicorn", "main:app", "--host", "0.0.0.0", "--port", "8080"
        ]))
    );
}

#[test]
fn python_django_with_pipfile() {
    let tree = Tree::new(&[
        (
            "Pipfile",
            "[packages]\ndjango = \"*\"\ngunicorn = \"*\"\n\n[requires]\npython_version = \"3.12\"\n",
        ),
        ("Pipfile.lock", "{}"),
        ("manage.py", ""),
        ("shop/wsgi.py", ""),
        ("shop/settings.py", ""),
    ]);
    let d = tree.detect().unwrap();
    assert_eq!(d.framework.as_deref(), Some("django"));
    assert!(d.evidence.contains(&"shop/wsgi.py".to_owned()));
    let plan = tree.plan().unwrap();
    assert_eq!(
        phase(&plan, "install"),
        [
            "pip install --no-cache-dir pipenv",
            "pipenv install --deploy"
        ]
    );
    assert_eq!(
        plan.start_command,
        Some(strings(&[
            "gunicorn",
            "--bind",
            "0.0.0.0:8080",
            "shop.wsgi"
        ]))
    );
    // Without gunicorn: the development server.
    let tree = Tree::new(&[("requirements.txt", "Django\n"), ("manage.py", "")]);
    assert_eq!(
        tree.plan().unwrap().start_command,
        Some(strings(&[
            "python3",
            "manage.py",
            "runserver",
            "0.0.0.0:8080"
        ]))
    );
}

#[test]
fn python_poetry_and_plain_script() {
    let tree = Tree::new(&[
        (
            "pyproject.toml",
            "[tool.poetry.dependencies]\npython = \"^3.11\"\nrequests = \"*\"\n",
        ),
        ("main.py", ""),
    ]);
    let d = tree.detect().unwrap();
    assert_eq!((d.framework, d.confidence), (None, 75));
    assert_eq!(
        tree.plan().unwrap().start_command,
        Some(strings(&["python3", "main.py"]))
    );
    let tree = Tree::new(&[("requirements.txt", "requests\n")]);
    let err = tree.plan().unwrap_err();
    assert_eq!(err.code, "no-match");
    assert!(err.message.contains("entry point"));
}

#[test]
fn static_site() {
    let tree = Tree::new(&[("index.html", "<h1>hi</h1>"), ("style.css", "")]);
    let d = tree.detect().unwrap();
    assert_eq!((d.language.as_str(), d.confidence), ("static", 50));
    let plan = tree.plan().unwrap();
    let text = inline(&plan);
    assert!(
        text.contains("FROM nginx:alpine\nCOPY . /usr/share/nginx/html"),
        "{text}"
    );
    assert_eq!(plan.ports, [80]);
}

#[test]
fn priority() {
    // A Django app with a package.json for its assets: python and node both score 90; python
    // comes first. index.html never competes with a real match.
    let tree = Tree::new(&[
        ("requirements.txt", "django\ngunicorn\n"),
        ("manage.py", ""),
        ("site/wsgi.py", ""),
        (
            "package.json",
            r#"{"scripts":{"start":"vite"},"devDependencies":{"vite":"5"}}"#,
        ),
        ("index.html", ""),
    ]);
    assert_eq!(tree.detect().unwrap().language, "python");
    // A Rust binary beats everything.
    let tree = Tree::new(&[
        ("Cargo.toml", "[package]\nname = \"x\"\n"),
        ("src/main.rs", ""),
        ("package.json", r#"{"scripts":{"start":"x"}}"#),
        ("go.mod", "module x\n"),
        ("main.go", ""),
    ]);
    assert_eq!(tree.detect().unwrap().language, "rust");
    // A Rust library (30) loses to a runnable Node package (90).
    let tree = Tree::new(&[
        ("Cargo.toml", "[package]\nname = \"x\"\n"),
        ("package.json", r#"{"scripts":{"start":"x"}}"#),
    ]);
    assert_eq!(tree.detect().unwrap().language, "node");
}

#[test]
fn unknown_tree() {
    let tree = Tree::new(&[("README.md", "hello"), ("docs/index.md", "")]);
    assert_eq!(tree.detect(), None);
    let err = tree.plan().unwrap_err();
    assert_eq!(err.code, "no-match");
    for looked_for in [
        "Cargo.toml",
        "go.mod",
        "package.json",
        "requirements.txt",
        "index.html",
    ] {
        assert!(err.message.contains(looked_for), "{}", err.message);
    }
}

#[test]
fn subdirectory_and_build_args() {
    let tree = Tree::new(&[
        ("services/api/go.mod", "module api\n"),
        ("services/api/main.go", ""),
    ]);
    assert_eq!(tree.detect(), None);
    let plan = plan(
        &tree.0,
        options(&[("VERSION", "1.2"), ("_X", "")], Some("services/api")),
        &[],
    )
    .unwrap();
    assert_eq!(plan.context, "services/api");
    assert_eq!(plan.language, "go");
    let text = inline(&plan);
    assert!(text.contains("ARG VERSION\nARG _X\n"), "{text}");
    assert_eq!(plan.build_args.len(), 2);

    let err = plan_err(&tree, options(&[("BAD-NAME", "")], Some("services/api")));
    assert_eq!(err.field.as_deref(), Some("build-args"));
    let err = plan_err(&tree, options(&[], Some("../etc")));
    assert_eq!(err.field.as_deref(), Some("subdirectory"));
    let err = plan_err(&tree, options(&[], Some("services/web")));
    assert_eq!(err.code, "no-match");
    assert!(err.message.contains("`services/web`"));
}

/// The plugin's config replaces every base image; `{version}` takes the tree's version.
#[test]
fn base_images_come_from_the_config() {
    let config = pairs(&[
        ("python_image", "windlass-test/python:3"),
        ("node_image", "mirror.local/node:{version}"),
        ("static_image", "windlass-test/busybox:1"),
        ("static_server", "busybox"),
        ("rust_image", "mirror.local/rust:{version}"),
        ("rust_runtime_image", "mirror.local/debian:12"),
        ("go_image", "mirror.local/go"),
        ("go_runtime_image", "mirror.local/static"),
    ]);
    let with_config = |tree: &Tree| plan(&tree.0, options(&[], None), &config);
    let python = Tree::new(&[("requirements.txt", "flask\n"), ("app.py", "")]);
    let text = inline(&with_config(&python).unwrap()).to_owned();
    assert!(
        text.contains("FROM windlass-test/python:3 AS build\n"),
        "{text}"
    );
    assert!(text.contains("\nFROM windlass-test/python:3\n"), "{text}");
    let node = Tree::new(&[
        (
            "package.json",
            r#"{"dependencies":{"express":"4"},"engines":{"node":"18"}}"#,
        ),
        ("server.js", ""),
    ]);
    let text = inline(&with_config(&node).unwrap()).to_owned();
    assert!(
        text.contains("FROM mirror.local/node:18 AS build"),
        "{text}"
    );
    let site = Tree::new(&[("index.html", "<h1>hi</h1>")]);
    let plan = with_config(&site).unwrap();
    let text = inline(&plan);
    assert!(
        text.contains("FROM windlass-test/busybox:1\nCOPY . /www\n"),
        "{text}"
    );
    assert_eq!(
        plan.start_command,
        Some(strings(&["httpd", "-f", "-p", "80", "-h", "/www"]))
    );
    assert_eq!(plan.ports, [80]);
    let rust = Tree::new(&[
        ("Cargo.toml", "[package]\nname = \"x\"\n"),
        ("src/main.rs", ""),
        ("rust-toolchain", "1.80\n"),
    ]);
    let text = inline(&with_config(&rust).unwrap()).to_owned();
    assert!(
        text.contains("FROM mirror.local/rust:1.80 AS build"),
        "{text}"
    );
    assert!(text.contains("\nFROM mirror.local/debian:12\n"), "{text}");
    let go = Tree::new(&[("go.mod", "module x\ngo 1.22\n"), ("main.go", "")]);
    let text = inline(&with_config(&go).unwrap()).to_owned();
    assert!(text.contains("FROM mirror.local/go AS build"), "{text}");
    assert!(text.contains("\nFROM mirror.local/static\n"), "{text}");

    // A typo is an error naming the key, not a silent public default.
    let typo = pairs(&[("pyhton_image", "windlass-test/python:3")]);
    let err = super::plan(&python.0, options(&[], None), &typo).unwrap_err();
    assert_eq!(err.code, "invalid-config");
    assert_eq!(err.field.as_deref(), Some("pyhton_image"));
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Standard-library Python and dependency-free Node.js: one stage, nothing installed, so
/// neither pip nor npm has to be in the image (or a registry reachable).
#[test]
fn applications_without_dependencies_install_nothing() {
    let python = Tree::new(&[
        ("requirements.txt", "# standard library only\n\n"),
        ("main.py", "import http.server"),
    ]);
    let d = python.detect().unwrap();
    assert_eq!((d.language.as_str(), d.confidence), ("python", 75));
    let plan = python.plan().unwrap();
    let text = inline(&plan);
    assert!(!text.contains("pip") && !text.contains("venv"), "{text}");
    assert_eq!(text.matches("FROM ").count(), 1, "{text}");
    assert!(text.contains("FROM python:3.12-slim\n"), "{text}");
    assert!(text.contains("COPY . .\n"), "{text}");
    assert!(plan.phases.iter().all(|p| p.name != "install"), "{plan:?}");
    assert_eq!(plan.start_command, Some(strings(&["python3", "main.py"])));
    // A requirements file with only an option still installs.
    let python = Tree::new(&[("requirements.txt", "-r base.txt\n"), ("main.py", "")]);
    assert!(inline(&python.plan().unwrap()).contains("pip install"));

    let node = Tree::new(&[
        ("package.json", r#"{"name":"hello","main":"server.js"}"#),
        ("server.js", "require('http')"),
    ]);
    let plan = node.plan().unwrap();
    let text = inline(&plan);
    assert!(!text.contains("npm"), "{text}");
    assert_eq!(text.matches("FROM ").count(), 1, "{text}");
    assert!(text.contains("FROM node:20-slim\n"), "{text}");
    assert!(text.contains("ENV NODE_ENV=production PORT=8080"), "{text}");
    assert_eq!(plan.start_command, Some(strings(&["node", "server.js"])));
    // Empty dependency objects are no dependencies; a real one installs.
    let node = Tree::new(&[
        ("package.json", r#"{"dependencies":{},"main":"server.js"}"#),
        ("server.js", ""),
    ]);
    assert!(!inline(&node.plan().unwrap()).contains("npm"));
    let node = Tree::new(&[
        (
            "package.json",
            r#"{"dependencies":{"ws":"8"},"main":"server.js"}"#,
        ),
        ("server.js", ""),
    ]);
    assert!(inline(&node.plan().unwrap()).contains("RUN npm install"));
}

fn plan_err(tree: &Tree, options: BuildOptions) -> PluginError {
    plan(&tree.0, options, &[]).unwrap_err()
}
