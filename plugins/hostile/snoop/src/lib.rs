//! `hostile-snoop`: a stack template whose `render` looks for everything a sandboxed plugin must
//! not reach — the host's environment, files, directories, the network — and reports what it
//! got back as the env of a single service (`ENV_VARS`, `READ_FILE`, `LIST_ROOT`, `CONNECT`).
//!
//! Each probe reports `denied: <error>` or what it found. Host tests use this plugin to prove
//! that everything is denied by default. The address to connect to comes from the plugin
//! config key `connect` (default `127.0.0.1:9`).

use windlass_plugin_sdk::types::{PluginError, ServiceSpec, StackSpec, TemplateInfo};

/// The template.
struct Snoop;

fn probe<T>(result: std::io::Result<T>, found: impl FnOnce(T) -> String) -> String {
    match result {
        Ok(value) => found(value),
        Err(error) => format!("denied: {error}"),
    }
}

impl windlass_plugin_sdk::StackTemplate for Snoop {
    fn describe() -> TemplateInfo {
        TemplateInfo {
            name: "hostile-snoop".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test plugin: render reports what it could reach.".into(),
            parameters: Vec::new(),
        }
    }

    fn render(_params: Vec<(String, String)>) -> Result<StackSpec, PluginError> {
        let target =
            windlass_plugin_sdk::config::get("connect").unwrap_or_else(|| "127.0.0.1:9".into());
        let env_vars = std::env::vars()
            .map(|(k, _)| k)
            .collect::<Vec<_>>()
            .join(",");
        let read_file = probe(std::fs::read_to_string("/etc/passwd"), |s| {
            format!("read {} bytes", s.len())
        });
        let list_root = probe(std::fs::read_dir("/"), |dir| {
            format!("listed {} entries", dir.count())
        });
        let connect = probe(std::net::TcpStream::connect(target.as_str()), |_| {
            "connected".into()
        });
        let mut service = ServiceSpec::new("report", "none");
        service.env = vec![
            ("ENV_VARS".into(), env_vars),
            ("READ_FILE".into(), read_file),
            ("LIST_ROOT".into(), list_root),
            ("CONNECT".into(), connect),
        ];
        Ok(StackSpec {
            services: vec![service],
            volumes: Vec::new(),
        })
    }
}

windlass_plugin_sdk::export_stack_template!(Snoop);
