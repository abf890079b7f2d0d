//! The `windlass` command line. `run` (with `config check`) is the runner and `demo` the demo;
//! the client commands — `ps`, `stacks`, `deploy`, `scale`, `logs`, `events`, `health`,
//! `billing`, `quota`, `tokens` — are one file each here. Each client command is a client of
//! the runner's HTTP API (`--url`, `--token`, `--ca-cert`, or `WINDLASS_URL`, `WINDLASS_TOKEN`,
//! `WINDLASS_CA_CERT`, or the profile `windlass login` saved: see `profile` for the
//! precedence), prints a
//! table or text for people and the API's own JSON with `--json`, and turns an API error into
//! `error [code] field: message` and exit code 1.
//!
//! Well-kept crates do the generic work: reqwest + rustls (`client`), sse-stream (`events`),
//! comfy-table (`table`), indicatif (`deploy`'s wait), jiff (`time`), percent-encoding.
//!
//! The client commands must not reach into the engine: everything goes through the API, so
//! the CLI sees exactly what any other client sees.

mod billing;
mod builds;
mod client;
pub(crate) mod demo;
mod deploy;
mod estimate;
mod events;
mod file_stacks;
mod inventory;
mod logs;
mod profile;
mod ps;
pub(crate) mod run;
mod secrets;
mod table;
mod time;
mod tokens;
mod workers;

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory as _, Parser, Subcommand, ValueEnum};
use serde_json::Value;

pub(crate) use client::Client;

/// The `windlass` command line. Public so that tools and tests can check a command line
/// against the real parser (`Cli::try_parse_from(["windlass", "ps", "--json"])`); running it
/// is [`main`]'s.
#[derive(Debug, Parser)]
#[command(
    name = "windlass",
    version,
    about = "An embeddable container orchestration engine with WebAssembly policies"
)]
pub struct Cli {
    /// How log lines on stderr look: `text` for people (coloured only on a terminal), `json`
    /// (one object a line) for log collectors. `RUST_LOG` picks what is logged.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "WINDLASS_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Commands,
}

/// The format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Deploy the demo stack on the local Docker engine and follow its events.
    Demo(demo::DemoArgs),
    /// Run the engine as a config file says, until Ctrl-C or SIGTERM.
    Run(run::RunArgs),
    /// Work with config files.
    #[command(subcommand)]
    Config(run::ConfigCommand),
    #[command(flatten)]
    Client(Box<ClientCommand>),
    /// Print a completion script for a shell (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Compile one plugin component (on stdin) into the compile cache and exit: started by
    /// `windlass run` for every component it compiles, so the compiler's memory leaves with
    /// this process (docs/plugin-host.md). Not for people.
    #[command(hide = true)]
    CompileWorker {
        /// The plugin host's worker arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

/// How `windlass run` starts a compile worker: this executable's hidden `compile-worker`
/// subcommand; `None` (compile in process) when the executable cannot be found.
pub(crate) fn compile_worker() -> Option<windlass::plugins::CompileWorker> {
    windlass::plugins::CompileWorker::current_exe(["compile-worker"])
}

/// The `windlass` binary: parses the command line, installs the log subscriber, runs the
/// command on a multi-threaded tokio runtime.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // A compile worker is short-lived and quiet: no log subscriber, no tokio runtime.
    let command = match cli.command {
        Commands::CompileWorker { args } => return windlass::plugins::run_compile_worker(args),
        command => command,
    };
    // A client command reports its own outcome on stderr; the libraries under it (rustls'
    // verifier logs every refused certificate as an error) would only say it twice.
    let quiet = matches!(command, Commands::Client(_) | Commands::Completions { .. });
    init_logging(cli.log_format, quiet);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match command {
            Commands::Demo(args) => demo::demo(args).await.map(|()| ExitCode::SUCCESS),
            Commands::Run(args) => run::run(args).await,
            Commands::Config(run::ConfigCommand::Check { file }) => Ok(run::check(&file)),
            Commands::Client(command) => Ok((*command).run().await),
            Commands::Completions { shell } => {
                clap_complete::generate(
                    shell,
                    &mut Cli::command(),
                    "windlass",
                    &mut std::io::stdout(),
                );
                Ok(ExitCode::SUCCESS)
            }
            Commands::CompileWorker { args } => Ok(windlass::plugins::run_compile_worker(args)),
        }
    });
    outcome.unwrap_or_else(|error| {
        eprintln!("error: {error:#}");
        ExitCode::FAILURE
    })
}

/// Logs go to stderr (stdout carries results), filtered by `RUST_LOG` (default: the
/// engine's info, everything else's warnings; nothing for a `quiet` client command), never
/// with the Docker client's request bodies (`logging::may_log`). Colour
/// only when stderr is a terminal, so a log file holds no escape sequences.
fn init_logging(format: LogFormat, quiet: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        if quiet {
            "off".into()
        } else {
            "windlass=info,windlass_runner=info,windlass_host_api=info,warn".into()
        }
    });
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::filter::FilterExt as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    // Whatever RUST_LOG says, no request body of the Docker client is logged (see `logging`).
    let filter = filter.and(crate::logging::body_filter());
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => tracing_subscriber::registry()
            .with(
                layer
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_filter(filter),
            )
            .init(),
        LogFormat::Json => tracing_subscriber::registry()
            .with(layer.json().with_current_span(false).with_filter(filter))
            .init(),
    }
}

/// Why a client command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The API answered with an error.
    #[error("error [{code}] {}{message}", field.as_ref().map(|f| format!("{f}: ")).unwrap_or_default())]
    Api {
        /// The HTTP status.
        status: u16,
        /// The API's stable code.
        code: String,
        /// The request field at fault.
        field: Option<String>,
        /// What went wrong.
        message: String,
    },
    /// The API could not be reached, or the connection broke.
    #[error("error: cannot talk to the API: {0}")]
    Connect(String),
    /// The command line or a file it names is wrong.
    #[error("error: {0}")]
    Usage(String),
    /// Anything else.
    #[error("error: {0:#}")]
    Other(#[from] anyhow::Error),
}

/// The API's URL when neither a flag, the environment nor the profile names one.
const DEFAULT_URL: &str = "http://127.0.0.1:7878";

/// Where the API is and who is calling. Unset values come from the profile `windlass login`
/// saved (see [`profile`] for the precedence).
#[derive(Clone, Args)]
pub(crate) struct ClientArgs {
    /// The runner's API: `http://HOST:PORT`, or `https://…` through a TLS-terminating proxy
    /// (default: the profile's, else http://127.0.0.1:7878).
    #[arg(long, env = "WINDLASS_URL")]
    url: Option<String>,
    /// A token (default: the profile's when the URL is the profile's; the runner prints an
    /// admin token on its first start).
    #[arg(long, env = "WINDLASS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// For `https`: trust only the CA certificates in this PEM file (default: the profile's,
    /// else the system's trusted roots).
    #[arg(long, env = "WINDLASS_CA_CERT", value_name = "FILE")]
    ca_cert: Option<PathBuf>,
}

impl std::fmt::Debug for ClientArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientArgs")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("ca_cert", &self.ca_cert)
            .finish()
    }
}

impl ClientArgs {
    fn client(&self) -> Result<Client, CliError> {
        // Both given: the profile is not even read (a broken one does not stand in the way).
        let saved = if self.url.is_some() && self.token.is_some() {
            None
        } else {
            profile::load()?
        };
        let url = self
            .url
            .clone()
            .or_else(|| saved.as_ref().map(|p| p.url.clone()))
            .unwrap_or_else(|| DEFAULT_URL.to_owned());
        // The profile's token and CA belong to the profile's server only.
        let saved = saved.filter(|p| p.url.trim_end_matches('/') == url.trim_end_matches('/'));
        let token = self
            .token
            .clone()
            .or_else(|| saved.as_ref().map(|p| p.token.clone()));
        let ca_cert = self
            .ca_cert
            .clone()
            .or_else(|| saved.and_then(|p| p.ca_cert));
        Client::new(&url, token, ca_cert.as_deref())
    }
}

/// The client commands.
#[derive(Debug, Subcommand)]
pub(crate) enum ClientCommand {
    /// List containers: name, org/stack/service, state, ready, image.
    Ps(ps::PsArgs),
    /// List stacks with each service's replicas, running and ready.
    Stacks(ps::StacksArgs),
    /// Deploy a stack from a TOML file and wait until every service is ready.
    Deploy(deploy::DeployArgs),
    /// Set a service's replica count (the revision stays).
    Scale(deploy::ScaleArgs),
    /// Roll a service back to a kept revision, or list them (`--list`).
    Rollback(deploy::RollbackArgs),
    /// List the runner's plugins with their status, or reload one (`--reload NAME`).
    Plugins(ps::PluginsArgs),
    /// Build a service from its build source (`--ref` another reference, `-f` follow).
    Build(builds::BuildArgs),
    /// List builds, or `logs ID [-f]`, `cancel ID`, `show ID`, `webhook ORG/STACK/SERVICE`.
    Builds(builds::BuildsArgs),
    /// Print a container's output; `-f` follows it until the container stops.
    Logs(logs::LogsArgs),
    /// Print events (history, or `-f` to follow; a dropped stream resumes where it stopped).
    Events(events::EventsArgs),
    /// Show a container's health: resource use and checks.
    Health(ps::HealthArgs),
    /// Every target's containers (local Docker, adapters such as Control Plane) with health and
    /// statistics; a progress bar on a terminal.
    Inventory(Box<inventory::InventoryArgs>),
    /// The workers of targets that have some (a Docker Swarm's nodes) with the heartbeat's
    /// verdict; `drain`, `pause`, `activate`, `rm` one; `join` prints the command that adds one.
    Workers(workers::WorkersArgs),
    /// Manage an org's secrets: `set` (value from stdin or a file), `ls`, `rm`, `rotate-key`.
    Secrets(secrets::SecretsArgs),
    /// An org's invoices, usage so far, balance, or a top-up.
    Billing(billing::BillingArgs),
    /// An org's limits beside what it holds.
    Quota(billing::QuotaArgs),
    /// Create, list and revoke API tokens (an admin token is needed).
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Check a token against the API and keep it, with the URL, in the CLI's profile (mode
    /// 0600), so that later commands need neither --token nor WINDLASS_TOKEN.
    Login(tokens::LoginArgs),
    /// Delete the CLI's profile.
    Logout,
}

impl ClientCommand {
    /// Runs the command; errors are printed on stderr.
    pub(crate) async fn run(self) -> ExitCode {
        let outcome = match self {
            Self::Ps(args) => ps::ps(args).await,
            Self::Stacks(args) => ps::stacks(args).await,
            Self::Deploy(args) => deploy::deploy(args).await,
            Self::Scale(args) => deploy::scale(args).await,
            Self::Rollback(args) => deploy::rollback(args).await,
            Self::Plugins(args) => ps::plugins(args).await,
            Self::Build(args) => builds::build(args).await,
            Self::Builds(args) => builds::builds(args).await,
            Self::Logs(args) => logs::logs(args).await,
            Self::Events(args) => events::events(args).await,
            Self::Health(args) => ps::health(args).await,
            Self::Inventory(args) => inventory::inventory(*args).await,
            Self::Workers(args) => workers::workers(args).await,
            Self::Secrets(args) => secrets::secrets(args).await,
            Self::Billing(args) => billing::billing(args).await,
            Self::Quota(args) => billing::quota(args).await,
            Self::Tokens(command) => command.run().await,
            Self::Login(args) => tokens::login(args).await,
            Self::Logout => tokens::logout().await,
        };
        match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("{error}");
                ExitCode::FAILURE
            }
        }
    }
}

/// Prints the API's JSON as it came (pretty).
fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

/// A string field of an API object, or `-`.
fn text(value: &Value, key: &str) -> String {
    match &value[key] {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}
