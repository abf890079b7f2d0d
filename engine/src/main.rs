//! The `windlass` binary.
//!
//! `windlass run --config windlass.toml` runs the engine as the config file says (see
//! `docs/runner.md`): it loads the plugins, renders and deploys the stacks, serves the HTTP API,
//! then reconciles until Ctrl-C or SIGTERM. `windlass config check FILE` validates a config
//! file without running anything. `windlass demo` runs the demo on the embedded defaults. The
//! other commands (`ps`, `stacks`, `deploy`, `scale`, `logs`, `events`, `health`) are clients
//! of a runner's API; `completions SHELL` prints a shell completion script. The code of each
//! lives in `cli/`.

mod cli;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "windlass",
    version,
    about = "An embeddable container orchestration engine with WebAssembly policies"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Deploy the demo stack on the local Docker engine and follow its events.
    Demo(cli::demo::DemoArgs),
    /// Run the engine as a config file says, until Ctrl-C or SIGTERM.
    Run(cli::run::RunArgs),
    /// Work with config files.
    #[command(subcommand)]
    Config(cli::run::ConfigCommand),
    #[command(flatten)]
    Client(cli::ClientCommand),
    /// Print a completion script for a shell (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "windlass=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Commands::Demo(args) => cli::demo::demo(args).await.map(|()| ExitCode::SUCCESS),
        Commands::Run(args) => cli::run::run(args).await,
        Commands::Config(cli::run::ConfigCommand::Check { file }) => Ok(cli::run::check(&file)),
        Commands::Client(command) => Ok(command.run().await),
        Commands::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "windlass",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
