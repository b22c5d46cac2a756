//! The `pgdog` binary: command line, logging, runtime, signals.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tracing::error;

use pgdog::config::Config;

/// PostgreSQL connection pooler, load balancer and sharding proxy.
#[derive(Parser, Debug)]
#[command(name = "pgdog", version, about, long_about = None)]
struct Cli {
    /// Path to pgdog.toml: listener, pool settings and the PostgreSQL servers behind pgDog.
    #[arg(long, short = 'c', default_value = "pgdog.toml", global = true)]
    config: PathBuf,
    /// Path to users.toml: the users clients log in as, their passwords and pool sizes.
    #[arg(long, short = 'u', default_value = "users.toml", global = true)]
    users: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the proxy (the default when no command is given).
    Run,
    /// Check both configuration files and exit: 0 when they are valid.
    Check,
    /// Routing plugins.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Start throwaway PostgreSQL servers, a user and a database, and serve them on port
    /// 6432 with a generated config. Ctrl-C stops and removes everything.
    Demo {
        /// Port pgDog listens on.
        #[arg(long, default_value_t = 6432)]
        port: u16,
        /// Directory for the servers' data and the generated config (a temporary one by
        /// default, removed on exit).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The tenant-router plugin component to load. By default the demo builds it from
        /// this source tree (`cargo build --release --target wasm32-wasip2 -p
        /// tenant-router`), so rebuilding after an edit reloads it.
        #[arg(long)]
        plugin: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum PluginCommand {
    /// Load a wasm component as pgDog would (compile, check it against the
    /// pgdog:router@0.2.2 contract, run `init`), then print its decision for each SQL
    /// string. Exits 0 when every call succeeded, 1 when a call failed, 2 when the plugin
    /// cannot be loaded.
    Check {
        /// The plugin: a component (.wasm), a native library (.so), or a library's bare name.
        file: PathBuf,
        /// The plugin's configuration, as the JSON object its `init` receives (what the
        /// `config` table of its `[[plugins]]` entry becomes).
        #[arg(long = "plugin-config", value_name = "JSON", default_value = "{}")]
        plugin_config: String,
        /// Shard count the plugin is told the database has.
        #[arg(long, default_value_t = 1)]
        shards: usize,
        /// Tell the plugin the database has replicas.
        #[arg(long)]
        replicas: bool,
        /// Deadline of each call, in milliseconds.
        #[arg(long, default_value_t = 100)]
        timeout_ms: u64,
        /// Memory limit of the plugin, in MB.
        #[arg(long, default_value_t = 64)]
        memory_mb: u64,
        /// SQL strings to route.
        sql: Vec<String>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_ansi(std::io::stdout().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Demo { port, dir, plugin }) => match pgdog::demo::run(port, dir, plugin) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                error!("demo failed: {err}");
                ExitCode::FAILURE
            }
        },
        Some(Command::Plugin {
            command:
                PluginCommand::Check {
                    file,
                    plugin_config,
                    shards,
                    replicas,
                    timeout_ms,
                    memory_mb,
                    sql,
                },
        }) => {
            let check = pgdog::plugins::check::Check {
                path: file,
                config_json: plugin_config,
                shards,
                replicas,
                sql,
                timeout_ms,
                memory_mb,
            };
            match pgdog::plugins::check::run(check) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(err) => {
                    eprintln!("error: {err}");
                    ExitCode::from(2)
                }
            }
        }
        Some(Command::Check) => match Config::load(&cli.config, &cli.users) {
            Ok(_) => {
                println!("configuration is valid");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::from(2)
            }
        },
        Some(Command::Run) | None => {
            let config = match Config::load(&cli.config, &cli.users) {
                Ok(config) => config,
                Err(err) => {
                    error!("invalid configuration: {err}");
                    return ExitCode::from(2);
                }
            };
            match run(Arc::new(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    error!("{err}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn run(config: Arc<Config>) -> std::io::Result<()> {
    pgdog::run(config)
}
