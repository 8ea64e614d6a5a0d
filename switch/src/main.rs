//! `hotline-switch`: the Hotline softswitch.
//!
//! Today it loads and validates the configuration, opens and migrates the database (seeding the
//! demo data into an empty one), serves `/health` and `/metrics`, and shuts down cleanly on
//! SIGTERM or Ctrl-C. SIP, media, IVR, routing and CTI are wired in as their crates land (see
//! the status table in README.md).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hotline_switch::app::{init_logging, run};
use hotline_switch::config::Config;
use hotline_switch::seed;

#[derive(Parser, Debug)]
#[command(
    name = "hotline-switch",
    version,
    about = "Hotline contact-center softswitch"
)]
struct Cli {
    /// The configuration file.
    #[arg(
        long,
        short,
        default_value = "config/switch.toml",
        env = "HOTLINE_CONFIG"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the switch (the default).
    Run,
    /// Check the configuration and the demo data, then exit.
    CheckConfig,
    /// Print an argon2 hash for a password read from standard input (for agent accounts).
    HashPassword,
    /// Run the switch with simulated callers, agent phones and agents (docs/demo.md).
    Demo {
        /// Mean rate of simulated callers (Poisson arrivals); 0 for none.
        #[arg(long, default_value_t = 6.0)]
        calls_per_minute: f64,
        /// Largest number of simulated agents (alice is always left for you).
        #[arg(long, default_value_t = 4)]
        agents: usize,
        /// Seed for the caller stream (a repeatable demo).
        #[arg(long)]
        seed: Option<u64>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cfg = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    // What the dial plan and the flows name must exist, whatever the command.
    let references = hotline_switch::routing::load_queues(&cfg)
        .and_then(|queues| cfg.check_references(&queues, cfg.load_flows()?.as_ref()));
    if let Err(e) = references {
        eprintln!("configuration error: {e}");
        return ExitCode::from(2);
    }
    match cli.command.unwrap_or(Command::Run) {
        Command::CheckConfig => {
            if cfg.demo.seed
                && let Err(e) = seed::load(&cfg.resolve(&cfg.demo.file))
            {
                eprintln!("configuration error: {e}");
                return ExitCode::from(2);
            }
            println!("{}: ok", cli.config.display());
            ExitCode::SUCCESS
        }
        Command::HashPassword => {
            let mut line = String::new();
            if std::io::stdin().read_line(&mut line).is_err() || line.trim().is_empty() {
                eprintln!("give the password on standard input");
                return ExitCode::from(2);
            }
            match hotline_store::password::hash(line.trim_end_matches(['\r', '\n'])) {
                Ok(h) => {
                    println!("{h}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Demo {
            calls_per_minute,
            agents,
            seed,
        } => {
            init_logging(&cfg);
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let opts = hotline_switch::demo::DemoOptions {
                calls_per_minute,
                agents,
                seed,
            };
            match rt.block_on(hotline_switch::demo::run(cfg, opts)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    eprintln!("hotline-switch demo: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Run => {
            init_logging(&cfg);
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(run(cfg)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    eprintln!("hotline-switch: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
