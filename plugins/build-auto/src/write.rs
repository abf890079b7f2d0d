//! Writes the Dockerfile and display phases of a [`Recipe`].

use std::fmt::Write as _;

use windlass_plugin_sdk::types::{BuildPhase, PluginError};

use crate::detect::{PackageManager, Recipe};
use crate::images::{Images, StaticServer};

/// What a recipe becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Written {
    pub dockerfile: String,
    pub phases: Vec<BuildPhase>,
    pub start: Vec<String>,
    pub ports: Vec<u16>,
}

/// The port applications are told to listen on (`PORT`), except static sites (80).
pub(crate) const APP_PORT: u16 = 8080;
const STATIC_PORT: u16 = 80;

/// Accumulates a Dockerfile and its phases.
struct Out {
    text: String,
    phases: Vec<BuildPhase>,
}

impl Out {
    fn new(comment: &str) -> Self {
        Self {
            text: format!("# Written by the windlass build-auto strategy: {comment}.\n"),
            phases: Vec::new(),
        }
    }

    fn line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
    }

    /// `ARG NAME` for each build argument, so the build steps can read them.
    fn args(&mut self, build_args: &[String]) {
        for name in build_args {
            let _ = writeln!(self.text, "ARG {name}");
        }
    }

    /// A `RUN` step that is also phase `phase`.
    fn run(&mut self, phase: &str, command: &str) {
        let _ = writeln!(self.text, "RUN {command}");
        match self.phases.iter_mut().find(|p| p.name == phase) {
            Some(p) => p.commands.push(command.to_owned()),
            None => self.phases.push(BuildPhase {
                name: phase.to_owned(),
                commands: vec![command.to_owned()],
            }),
        }
    }

    fn finish(mut self, port: u16, start: Vec<String>) -> Written {
        let _ = writeln!(self.text, "EXPOSE {port}");
        let cmd = serde_json::to_string(&start).unwrap_or_default();
        let _ = writeln!(self.text, "CMD {cmd}");
        self.phases.push(BuildPhase {
            name: "start".to_owned(),
            commands: vec![start.join(" ")],
        });
        Written {
            dockerfile: self.text,
            phases: self.phases,
            start,
            ports: vec![port],
        }
    }
}

/// The static image serving the files `COPY`ed from `from`; returns its start command.
fn serve_static(out: &mut Out, images: &Images, from: &str) -> Vec<String> {
    out.line(&format!("FROM {}", images.get("static_image", "")));
    let words = |w: &[&str]| w.iter().map(|w| (*w).to_owned()).collect();
    match images.static_server {
        StaticServer::Nginx => {
            out.line(&format!("COPY {from} /usr/share/nginx/html"));
            words(&["nginx", "-g", "daemon off;"])
        }
        StaticServer::Busybox => {
            out.line(&format!("COPY {from} /www"));
            words(&["httpd", "-f", "-p", "80", "-h", "/www"])
        }
    }
}

/// Writes `recipe`'s Dockerfile from `images`, declaring `build_args` in the build stage.
/// Fails with `no-match` when a Node or Python project has no way to start.
pub(crate) fn write(
    recipe: &Recipe,
    images: &Images,
    build_args: &[String],
) -> Result<Written, PluginError> {
    match recipe {
        Recipe::Rust {
            bin,
            package,
            locked,
            toolchain,
        } => {
            let mut out = Out::new(&format!("Rust binary `{bin}`"));
            let image = images.get("rust_image", toolchain);
            out.line(&format!("FROM {image} AS build"));
            out.line("WORKDIR /src");
            out.args(build_args);
            out.line("COPY . .");
            let locked = if *locked { " --locked" } else { "" };
            out.run("install", &format!("cargo fetch{locked}"));
            let package = package
                .as_ref()
                .map_or_else(String::new, |p| format!(" -p {p}"));
            out.run(
                "build",
                &format!("cargo build --release{locked}{package} --bin {bin}"),
            );
            out.line("");
            out.line(&format!("FROM {}", images.get("rust_runtime_image", "")));
            out.line(&format!(
                "COPY --from=build /src/target/release/{bin} /usr/local/bin/{bin}"
            ));
            out.line(&format!("ENV PORT={APP_PORT}"));
            Ok(out.finish(APP_PORT, vec![format!("/usr/local/bin/{bin}")]))
        }
        Recipe::Go {
            binary,
            package,
            version,
            has_sum,
        } => {
            let mut out = Out::new(&format!("Go binary `{binary}`"));
            let image = images.get("go_image", version);
            out.line(&format!("FROM {image} AS build"));
            out.line("WORKDIR /src");
            out.args(build_args);
            out.line(if *has_sum {
                "COPY go.mod go.sum ./"
            } else {
                "COPY go.mod ./"
            });
            out.run("install", "go mod download");
            out.line("COPY . .");
            out.run(
                "build",
                &format!(
                    "CGO_ENABLED=0 go build -trimpath -ldflags=\"-s -w\" -o /out/{binary} {package}"
                ),
            );
            out.line("");
            out.line(&format!("FROM {}", images.get("go_runtime_image", "")));
            out.line(&format!(
                "COPY --from=build /out/{binary} /usr/local/bin/{binary}"
            ));
            out.line(&format!("ENV PORT={APP_PORT}"));
            Ok(out.finish(APP_PORT, vec![format!("/usr/local/bin/{binary}")]))
        }
        Recipe::Node {
            has_deps,
            pm,
            lockfile,
            node_major,
            build_script,
            start,
            static_dist,
        } => {
            let start = match (start, static_dist) {
                (_, true) => Vec::new(),
                (Some(start), false) => start.clone(),
                (None, false) => {
                    return Err(PluginError::no_match(
                        "found a Node.js package (package.json) but no way to start it: add `scripts.start`, a `main` file, or server.js / index.js",
                    ));
                }
            };
            let (build_image, run_image) = match pm {
                PackageManager::Bun => (
                    images.get("bun_image", ""),
                    images.get("bun_runtime_image", ""),
                ),
                _ => {
                    let node = images.get("node_image", &node_major.to_string());
                    (node.clone(), node)
                }
            };
            // Nothing to install or build: one stage with the files and node, no package
            // manager needed (Debian's nodejs, for one, comes without npm).
            if !has_deps && lockfile.is_none() && !build_script && !static_dist {
                let mut out = Out::new("Node.js application without dependencies");
                out.line(&format!("FROM {run_image}"));
                out.line("WORKDIR /app");
                out.args(build_args);
                out.line(&format!("ENV NODE_ENV=production PORT={APP_PORT}"));
                out.line("COPY . .");
                return Ok(out.finish(APP_PORT, start));
            }
            // Node 25 and later no longer bundle corepack.
            let corepack = if *node_major >= 25 {
                "npm install -g corepack && corepack enable"
            } else {
                "corepack enable"
            };
            let locked = lockfile.is_some();
            let install = match (pm, locked) {
                (PackageManager::Npm, true) => "npm ci".to_owned(),
                (PackageManager::Npm, false) => "npm install".to_owned(),
                (PackageManager::Pnpm, true) => {
                    format!("{corepack} && pnpm install --frozen-lockfile")
                }
                (PackageManager::Pnpm, false) => format!("{corepack} && pnpm install"),
                (PackageManager::Yarn, true) => {
                    format!("{corepack} && yarn install --frozen-lockfile")
                }
                (PackageManager::Yarn, false) => format!("{corepack} && yarn install"),
                (PackageManager::Bun, true) => "bun install --frozen-lockfile".to_owned(),
                (PackageManager::Bun, false) => "bun install".to_owned(),
            };
            let mut out = Out::new(&format!("Node.js package ({})", pm.name()));
            out.line(&format!("FROM {build_image} AS build"));
            out.line("WORKDIR /app");
            out.args(build_args);
            match lockfile {
                Some(lock) => out.line(&format!("COPY package.json {lock} ./")),
                None => out.line("COPY package.json ./"),
            }
            out.run("install", &install);
            out.line("COPY . .");
            if *build_script {
                out.run("build", &format!("{} run build", pm.name()));
            } else if *static_dist {
                out.run("build", "npx vite build");
            }
            out.line("");
            if *static_dist {
                let start = serve_static(&mut out, images, "--from=build /app/dist");
                return Ok(out.finish(STATIC_PORT, start));
            }
            out.line(&format!("FROM {run_image}"));
            out.line("WORKDIR /app");
            if matches!(pm, PackageManager::Pnpm | PackageManager::Yarn) {
                out.line(&format!("RUN {corepack}"));
            }
            out.line(&format!("ENV NODE_ENV=production PORT={APP_PORT}"));
            out.line("COPY --from=build /app /app");
            Ok(out.finish(APP_PORT, start))
        }
        Recipe::Python {
            version,
            install,
            start,
        } => {
            let Some(start) = start.clone() else {
                return Err(PluginError::no_match(
                    "found a Python project but no entry point: add main.py or app.py, or use Django (manage.py), Flask or FastAPI (app.py / main.py)",
                ));
            };
            let image = images.get("python_image", version);
            if install.is_empty() {
                // Standard library only: the files and the interpreter, one stage.
                let mut out = Out::new(&format!(
                    "Python {version} application without dependencies"
                ));
                out.line(&format!("FROM {image}"));
                out.line("WORKDIR /app");
                out.args(build_args);
                out.line(&format!("ENV PYTHONUNBUFFERED=1 PORT={APP_PORT}"));
                out.line("COPY . .");
                return Ok(out.finish(APP_PORT, start));
            }
            let mut out = Out::new(&format!("Python {version} application"));
            out.line(&format!("FROM {image} AS build"));
            out.line("WORKDIR /app");
            out.args(build_args);
            out.line("ENV VIRTUAL_ENV=/venv PATH=/venv/bin:$PATH PIP_DISABLE_PIP_VERSION_CHECK=1");
            out.line("RUN python3 -m venv /venv");
            out.line("COPY . .");
            for command in install {
                out.run("install", command);
            }
            out.line("");
            out.line(&format!("FROM {image}"));
            out.line("WORKDIR /app");
            out.line(&format!(
                "ENV VIRTUAL_ENV=/venv PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 PORT={APP_PORT}"
            ));
            out.line("COPY --from=build /venv /venv");
            out.line("COPY --from=build /app /app");
            Ok(out.finish(APP_PORT, start))
        }
        Recipe::Static => {
            let mut out = Out::new("static site");
            let start = serve_static(&mut out, images, ".");
            Ok(out.finish(STATIC_PORT, start))
        }
    }
}
