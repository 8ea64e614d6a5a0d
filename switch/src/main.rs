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
    /// Create, list or revoke REST API tokens in the configured database (docs/api.md).
    Token {
        #[command(subcommand)]
        action: TokenCommand,
    },
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

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create a token and print its secret (shown this once).
    Create {
        /// supervisor, admin or integration.
        #[arg(long)]
        role: String,
        /// What the token is for (e.g. ops, crm-sync).
        #[arg(long)]
        name: String,
    },
    /// List the tokens (never their secrets).
    List,
    /// Revoke a token by id.
    Revoke {
        /// The token's id (from `token list`).
        id: i64,
    },
}

/// Runs a `token` subcommand against the configured database (migrating it first, like the
/// switch). Every change is audit-logged with the actor `cli`.
async fn token_command(cfg: &Config, action: TokenCommand) -> Result<(), String> {
    use hotline_store::{ApiRole, AuditEntry, Store, StoreOptions};
    let store = Store::open(&cfg.database.url, StoreOptions::default())
        .await
        .map_err(|e| {
            format!(
                "database {}: {e}",
                hotline_switch::app::redact_url(&cfg.database.url)
            )
        })?;
    let now = hotline_switch::app::now_millis();
    let result = match action {
        TokenCommand::Create { role, name } => {
            let role = ApiRole::parse(&role).map_err(|e| e.to_string())?;
            let created = hotline_switch::api::tokens::issue(&store, &name, role, "cli")
                .await
                .map_err(|e| e.problem().detail)?;
            let audit = AuditEntry {
                at: now,
                actor: "cli".into(),
                action: "api.token.create".into(),
                target: Some(created.token.id.to_string()),
                call_id: None,
                allowed: true,
                detail: serde_json::json!({ "name": created.token.name, "role": role.as_str() }),
            };
            store.audit(&audit).await.map_err(|e| e.to_string())?;
            println!(
                "token {} ({}, role {}): {}",
                created.token.id,
                created.token.name,
                role.as_str(),
                created.secret
            );
            eprintln!("keep the secret now: only its hash is stored, it cannot be shown again");
            Ok(())
        }
        TokenCommand::List => {
            let tokens = store.api_tokens().await.map_err(|e| e.to_string())?;
            println!("id\trole\tname\tcreated_by\trevoked");
            for t in tokens {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    t.id,
                    t.role.as_str(),
                    t.name,
                    t.created_by,
                    if t.revoked_at.is_some() { "yes" } else { "no" }
                );
            }
            Ok(())
        }
        TokenCommand::Revoke { id } => {
            let t = store
                .revoke_api_token(id, now)
                .await
                .map_err(|e| e.to_string())?;
            let audit = AuditEntry {
                at: now,
                actor: "cli".into(),
                action: "api.token.revoke".into(),
                target: Some(id.to_string()),
                call_id: None,
                allowed: true,
                detail: serde_json::json!({ "name": t.name }),
            };
            store.audit(&audit).await.map_err(|e| e.to_string())?;
            println!("token {id} ({}) revoked", t.name);
            Ok(())
        }
    };
    store.close().await;
    result
}

/// glibc's malloc, with its default number of arenas (up to 8 per core, one taken by each
/// thread that finds the others busy), grows the switch's resident memory under agent load and
/// never hands it back although the live heap stays flat (docs/robustness.md). glibc reads
/// `MALLOC_ARENA_MAX` only when a process starts, and changing the environment of a running
/// process is unsafe, so the switch re-executes itself once with `MALLOC_ARENA_MAX=2` unless the
/// environment already says how many (any value, e.g. to measure the default). The process id
/// stays the same.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none()
        && let Ok(exe) = std::env::current_exe()
    {
        use std::os::unix::process::CommandExt;
        let err = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("MALLOC_ARENA_MAX", "2")
            .exec();
        // Only reached when exec failed: run on with glibc's default.
        eprintln!("hotline-switch: not restarted with MALLOC_ARENA_MAX=2 ({err}); running on");
    }
}

fn main() -> ExitCode {
    limit_malloc_arenas();
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
            // Prompts missing in a flow's other languages play in English: say so, not fail.
            if let Ok(Some(flows)) = cfg.load_flows() {
                for w in flows.warnings() {
                    eprintln!("warning: {w}");
                }
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
        Command::Token { action } => {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(token_command(&cfg, action)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("hotline-switch token: {e}");
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
