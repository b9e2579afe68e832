//! `wuwei`: the one binary. Serves the platform, loads the demo town, and runs the operator's
//! chores (migrations, accounts, audit and points ledger verification, backups).

#![allow(clippy::print_stdout)] // a CLI's output is its interface

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::Serialize;
use uuid::Uuid;
use wuwei_domain::access::{Binding, Level, Place, Role, Scope};
use wuwei_domain::region::RegionKind;
use wuwei_domain::validate::{self, NewPassword, Username};
use wuwei_server::state::Secret;
use wuwei_server::{ServerConfig, SystemClock};
use wuwei_store::accounts::{self, NewUser, UserPatch};
use wuwei_store::{Actor, Store, households, regions};

#[derive(Parser)]
#[command(name = "wuwei", version, about = "五微 wuwei: township operations platform", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Load the synthetic demo town (once), print its accounts, and run the server.
    Demo {
        #[command(flatten)]
        args: ServeArgs,
        /// Load the demo town and exit without serving.
        #[arg(long)]
        no_serve: bool,
    },
    /// Bring the database schema up to date and exit.
    Migrate(DbArgs),
    /// Manage accounts from the command line.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The points ledger.
    Points {
        #[command(subcommand)]
        command: PointsCommand,
    },
    /// Write a consistent copy of a SQLite database (safe while the server runs).
    Backup {
        #[command(flatten)]
        db: DbArgs,
        /// The file to write; it must not exist.
        file: PathBuf,
    },
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account. The password is read from standard input (prompted on a terminal).
    Add {
        #[command(flatten)]
        db: DbArgs,
        username: String,
        /// The name shown to others.
        #[arg(long)]
        display_name: String,
        #[arg(long)]
        phone: Option<String>,
        /// ROLE=SCOPE, repeatable. SCOPE is a region code of the town (e.g. grid_worker=DW-AV01-NV01-G1),
        /// a city code for county_admin, a household code for resident, or the town's code.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// The town whose codes SCOPE refers to, by short code (e.g. DW); needed when there are several.
        #[arg(long)]
        town: Option<String>,
    },
    /// Set a new password (read from standard input); the account's sessions end.
    Passwd {
        #[command(flatten)]
        db: DbArgs,
        username: String,
    },
    /// Disable an account; its sessions end.
    Disable {
        #[command(flatten)]
        db: DbArgs,
        username: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check every hash chain; exits non-zero at the first broken link.
    Verify(DbArgs),
}

#[derive(Subcommand)]
enum PointsCommand {
    /// Check every invariant of the ledger; exits 1 at the first violation, 2 if it cannot check.
    ///
    /// Each posting sums to zero, every balance equals its entries, no balance is negative where
    /// the town forbids it, and the hash chain of postings is intact. Reads one snapshot, so it
    /// is safe while the server runs.
    Verify {
        #[command(flatten)]
        db: DbArgs,
        /// Only this town: its short code (e.g. DW), code or id. Default: every town with a ledger.
        #[arg(long)]
        town: Option<String>,
    },
}

#[derive(Args, Clone, Default)]
struct DbArgs {
    /// Database URL (sqlite://FILE or postgres://…); default sqlite://<data-dir>/wuwei.db.
    #[arg(long)]
    database_url: Option<String>,
    /// Directory for the SQLite database and stored files.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// TOML configuration file (default: ./wuwei.toml if present).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Args, Clone, Default)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long)]
    listen: Option<SocketAddr>,
    #[command(flatten)]
    db: DbArgs,
    /// MQTT broker for call buttons and other devices (mqtt://HOST:PORT); default: no MQTT.
    /// Credentials, if the broker wants them: `mqtt_username`/`mqtt_password` in the TOML file or
    /// WUWEI_MQTT_USERNAME/WUWEI_MQTT_PASSWORD.
    #[arg(long)]
    mqtt_url: Option<String>,
}

/// Flags, the last layer of configuration; absent flags leave lower layers alone.
#[derive(Serialize)]
struct FlagLayer {
    #[serde(skip_serializing_if = "Option::is_none")]
    listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    database_url: Option<Secret<String>>,
}

/// The keys a `WUWEI_*` variable may set (other `WUWEI_*` variables belong to tests and tools).
const ENV_KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "database_url",
    "cookie_secure",
    "trust_forwarded_for",
    "session_ttl_hours",
    "max_body_bytes",
    "import_max_body_bytes",
    "request_timeout_secs",
    "db_max_connections",
    "sqlite_synchronous_full",
    "log_format",
    "sms_webhook_url",
    "wecom_webhook_url",
    "background_jobs",
    "test_clock",
    "mqtt_url",
    "mqtt_username",
    "mqtt_password",
];

/// defaults → TOML file → `WUWEI_*` environment → flags.
fn load_config(listen: Option<SocketAddr>, db: &DbArgs) -> Result<ServerConfig> {
    let mut fig = Figment::from(Serialized::defaults(ServerConfig::default()));
    match &db.config {
        Some(path) => fig = fig.merge(Toml::file_exact(path)),
        None if Path::new("wuwei.toml").exists() => fig = fig.merge(Toml::file("wuwei.toml")),
        None => {}
    }
    fig = fig.merge(Env::prefixed("WUWEI_").only(ENV_KEYS));
    fig = fig.merge(Serialized::defaults(FlagLayer {
        listen,
        data_dir: db.data_dir.clone(),
        database_url: db.database_url.clone().map(Secret::new),
    }));
    fig.extract::<ServerConfig>().context("invalid configuration")
}

fn init_logging(config: &ServerConfig) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WUWEI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn open_store(config: &ServerConfig) -> Result<Store> {
    let url = config.database_url();
    let store = Store::connect(&url, &config.store_options())
        .await
        .with_context(|| format!("cannot open {}", wuwei_store::redact_url(&url)))?;
    store.migrate().await.context("migration failed")?;
    Ok(store)
}

fn read_password(prompt: &str) -> Result<String> {
    let pw = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(prompt)?;
        let again = rpassword::prompt_password("again: ")?;
        if first != again {
            bail!("the passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    NewPassword::parse("password", &pw).map_err(|e| anyhow!("password: {:?}", e.rule))?;
    Ok(pw)
}

fn cli_actor() -> Actor {
    let who = std::env::var("USER").unwrap_or_else(|_| "operator".into());
    Actor::system(&format!("cli:{who}"))
}

async fn resolve_scope(store: &Store, role: Role, scope: &str, town: &Option<String>) -> Result<Scope> {
    let db = store.db();
    if role.scope_levels().contains(&Level::City) {
        let city = regions::city_by_code(db, scope).await?.ok_or_else(|| anyhow!("no city with code {scope}"))?;
        return Ok(Scope { level: Level::City, place: Place { city_id: Some(city.id), ..Place::default() } });
    }
    let towns = regions::towns(db).await?;
    let town = match town {
        Some(short) => towns
            .iter()
            .find(|t| t.short_code.as_deref() == Some(short.as_str()))
            .ok_or_else(|| anyhow!("no town with short code {short}"))?,
        None => match towns.as_slice() {
            [only] => only,
            [] => bail!("there is no town yet; run `wuwei demo` or create one first"),
            _ => bail!("several towns: say which with --town"),
        },
    };
    if role.scope_levels().contains(&Level::Household) {
        let h = households::household_by_code(db, town.id, scope)
            .await?
            .ok_or_else(|| anyhow!("no household with code {scope} in {}", town.name))?;
        return Ok(Scope { level: Level::Household, place: h.place(Some(town.city_id)) });
    }
    let region = if town.code.as_deref() == Some(scope) || town.short_code.as_deref() == Some(scope) {
        town.clone()
    } else {
        regions::region_by_code(db, town.id, scope)
            .await?
            .ok_or_else(|| anyhow!("no region with code {scope} in {}", town.name))?
    };
    let level = region.kind().map(RegionKind::level).ok_or_else(|| anyhow!("region {scope} has an unknown kind"))?;
    if !role.scope_levels().contains(&level) {
        bail!("{} is bound at {:?}, but {scope} is a {}", role.as_str(), role.scope_levels(), level.as_str());
    }
    Ok(Scope { level, place: region.place() })
}

async fn user_add(
    db: DbArgs,
    username: String,
    display_name: String,
    phone: Option<String>,
    role_specs: Vec<String>,
    town: Option<String>,
) -> Result<()> {
    let config = load_config(None, &db)?;
    let store = open_store(&config).await?;
    let username = Username::parse("username", &username).map_err(|e| anyhow!("username: {:?}", e.rule))?;
    let display_name =
        validate::text("display_name", &display_name, 64).map_err(|e| anyhow!("display name: {:?}", e.rule))?;
    let phone = validate::phone("phone", phone.as_deref()).map_err(|e| anyhow!("phone: {:?}", e.rule))?;
    let mut bindings = Vec::new();
    for spec in &role_specs {
        let (role, scope) = spec.split_once('=').ok_or_else(|| anyhow!("--role {spec}: expected ROLE=SCOPE"))?;
        let role = Role::parse(role).ok_or_else(|| anyhow!("unknown role {role}"))?;
        bindings.push(Binding { role, scope: resolve_scope(&store, role, scope, &town).await? });
    }
    if accounts::user_by_username(store.db(), username.as_str()).await?.is_some() {
        bail!("the username {} is taken", username.as_str());
    }
    let password = read_password(&format!("password for {}: ", username.as_str()))?;
    let hash = wuwei_server::auth::hash_password(&password).await.map_err(|_| anyhow!("cannot hash the password"))?;
    let now = chrono::Utc::now();
    let home_town_id = bindings.iter().find_map(|b| b.scope.place.town_id);
    let mut tx = store.begin().await?;
    accounts::insert_user(
        &mut tx,
        &cli_actor(),
        now,
        NewUser {
            id: Uuid::now_v7(),
            username: username.as_str().to_string(),
            display_name,
            phone,
            password_hash: hash,
            home_town_id,
            bindings,
        },
    )
    .await?;
    tx.commit(now).await?;
    println!("created {}", username.as_str());
    Ok(())
}

async fn user_passwd(db: DbArgs, username: String) -> Result<()> {
    let config = load_config(None, &db)?;
    let store = open_store(&config).await?;
    let user = accounts::user_by_username(store.db(), &username).await?.ok_or_else(|| anyhow!("no user {username}"))?;
    let password = read_password(&format!("new password for {username}: "))?;
    let hash = wuwei_server::auth::hash_password(&password).await.map_err(|_| anyhow!("cannot hash the password"))?;
    let now = chrono::Utc::now();
    let mut tx = store.begin().await?;
    accounts::set_password(&mut tx, &cli_actor(), now, user.id, hash).await?;
    tx.commit(now).await?;
    println!("password changed for {username}; their sessions have ended");
    Ok(())
}

async fn user_disable(db: DbArgs, username: String) -> Result<()> {
    let config = load_config(None, &db)?;
    let store = open_store(&config).await?;
    let user = accounts::user_by_username(store.db(), &username).await?.ok_or_else(|| anyhow!("no user {username}"))?;
    if user.disabled {
        println!("{username} is already disabled");
        return Ok(());
    }
    let now = chrono::Utc::now();
    let version = user.version;
    let mut tx = store.begin().await?;
    accounts::update_user(
        &mut tx,
        &cli_actor(),
        now,
        user,
        version,
        UserPatch { disabled: Some(true), ..UserPatch::default() },
    )
    .await?;
    tx.commit(now).await?;
    println!("disabled {username}; their sessions have ended");
    Ok(())
}

async fn audit_verify(db: DbArgs) -> Result<ExitCode> {
    let config = load_config(None, &db)?;
    let store = open_store(&config).await?;
    let v = wuwei_store::audit::verify_snapshot(&store, None).await?;
    match v.first_broken {
        None => {
            println!("audit trail intact: {} records in {} chains", v.records, v.chains);
            Ok(ExitCode::SUCCESS)
        }
        Some(b) => {
            println!("audit trail BROKEN after {} good records: {b}", v.records);
            Ok(ExitCode::from(1))
        }
    }
}

/// `wuwei points verify`: 0 when the ledger is intact, 1 at a violation (named), 2 when it could
/// not be checked (an error, printed by the caller).
async fn points_verify(db: DbArgs, town: Option<String>) -> Result<ExitCode> {
    let config = load_config(None, &db)?;
    let store = open_store(&config).await?;
    let towns = regions::towns(store.db()).await?;
    let town_id = match town.as_deref() {
        None => None,
        Some(t) => Some(
            towns
                .iter()
                .find(|r| r.short_code.as_deref() == Some(t) || r.code.as_deref() == Some(t) || r.id.to_string() == t)
                .map(|r| r.id)
                .ok_or_else(|| anyhow!("no town with short code, code or id {t}"))?,
        ),
    };
    let started = std::time::Instant::now();
    let v = wuwei_store::points::verify_snapshot(&store, town_id).await?;
    let secs = started.elapsed().as_secs_f64();
    match v.first_problem {
        None => {
            println!(
                "points ledger intact: {} town{}, {} postings, {} entries, {} points in circulation (checked in {secs:.2} s)",
                v.towns,
                if v.towns == 1 { "" } else { "s" },
                v.postings,
                v.entries,
                v.in_circulation
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(problem) => {
            let problem_town = match &problem {
                wuwei_store::points::LedgerProblem::Violation { town_id, .. }
                | wuwei_store::points::LedgerProblem::BadRow { town_id, .. }
                | wuwei_store::points::LedgerProblem::StrayEntries { town_id, .. } => *town_id,
            };
            let name = towns
                .iter()
                .find(|r| r.id == problem_town)
                .map(|r| match r.short_code.as_deref() {
                    Some(short) => format!(" ({}, {short})", r.name),
                    None => format!(" ({})", r.name),
                })
                .unwrap_or_default();
            println!("points ledger BROKEN after {} good postings: {problem}{name}", v.postings);
            Ok(ExitCode::from(1))
        }
    }
}

async fn backup(db: DbArgs, file: PathBuf) -> Result<ExitCode> {
    let config = load_config(None, &db)?;
    let url = config.database_url();
    if url.starts_with("postgres") {
        println!(
            "wuwei backup copies SQLite databases. For PostgreSQL use its own tools, e.g.:\n  pg_dump --format=custom --file={} '{}'",
            file.display(),
            wuwei_store::redact_url(&url)
        );
        return Ok(ExitCode::from(2));
    }
    if file.exists() {
        bail!("{} exists; choose a new file", file.display());
    }
    let store = Store::connect(&url, &config.store_options()).await?;
    store.backup_sqlite(&file).await.context("backup failed")?;
    println!("backed up {} to {}", wuwei_store::redact_url(&url), file.display());
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: ServeArgs, demo: bool, no_serve: bool) -> Result<()> {
    let mut config = load_config(args.listen, &args.db)?;
    if let Some(url) = args.mqtt_url {
        config.mqtt_url = Some(url);
    }
    init_logging(&config);
    let listen = config.listen;
    let state = wuwei_server::open(config, Arc::new(SystemClock)).await?;
    if demo {
        let started = std::time::Instant::now();
        let report = wuwei_server::demo::load(state.store(), state.now()).await?;
        if report.loaded {
            tracing::info!(
                households = report.households,
                regions = report.regions,
                accounts = report.accounts,
                ms = started.elapsed().as_millis() as u64,
                "demo town loaded"
            );
        }
        let mut out = std::io::stdout().lock();
        writeln!(out, "\n五微 wuwei demo town — 丁坞镇 (synthetic data; every name, person and number is made up)")?;
        writeln!(
            out,
            "Open http://{listen}/ and sign in; every demo account's password is: {}",
            wuwei_demo::DEMO_PASSWORD
        )?;
        for line in wuwei_server::demo::account_lines() {
            writeln!(out, "{line}")?;
        }
        writeln!(out)?;
        out.flush()?;
        if no_serve {
            return Ok(());
        }
    }
    wuwei_server::serve(state).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args, false, false).await.map(|()| ExitCode::SUCCESS),
        Command::Demo { args, no_serve } => serve(args, true, no_serve).await.map(|()| ExitCode::SUCCESS),
        Command::Migrate(db) => {
            async {
                let config = load_config(None, &db)?;
                let store = Store::connect(&config.database_url(), &config.store_options()).await?;
                let pending = store.pending_migrations().await?;
                store.migrate().await?;
                println!(
                    "migrations applied: {}",
                    if pending.is_empty() { "none pending".to_string() } else { pending.join(", ") }
                );
                Ok(ExitCode::SUCCESS)
            }
            .await
        }
        Command::User { command } => match command {
            UserCommand::Add { db, username, display_name, phone, roles, town } => {
                user_add(db, username, display_name, phone, roles, town).await.map(|()| ExitCode::SUCCESS)
            }
            UserCommand::Passwd { db, username } => user_passwd(db, username).await.map(|()| ExitCode::SUCCESS),
            UserCommand::Disable { db, username } => user_disable(db, username).await.map(|()| ExitCode::SUCCESS),
        },
        Command::Audit { command: AuditCommand::Verify(db) } => audit_verify(db).await,
        Command::Points { command: PointsCommand::Verify { db, town } } => {
            // A failure to check is not a violation: exit 2, so scripts can tell them apart.
            Ok(points_verify(db, town).await.unwrap_or_else(|e| {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }))
        }
        Command::Backup { db, file } => backup(db, file).await,
        Command::Openapi => match wuwei_server::openapi_document().to_pretty_json() {
            Ok(json) => {
                println!("{json}");
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Err(anyhow!(e)),
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's test API
    fn flags_override_environment_override_file_override_defaults() {
        let dir = std::env::temp_dir().join(format!("wuwei-cfg-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("wuwei.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nsession_ttl_hours = 4\ndata_dir = \"/tmp/from-file\"\n")
            .unwrap();
        figment::Jail::expect_with(|jail| {
            jail.set_env("WUWEI_SESSION_TTL_HOURS", "6");
            jail.set_env("WUWEI_TEST_DATABASE_URL", "postgres://ignored");
            let db = DbArgs {
                config: Some(file.clone()),
                data_dir: Some(PathBuf::from("/tmp/from-flag")),
                database_url: None,
            };
            let c = load_config(None, &db).unwrap();
            assert_eq!(c.listen.port(), 9000);
            assert_eq!(c.session_ttl_hours, 6);
            assert_eq!(c.data_dir, PathBuf::from("/tmp/from-flag"));
            assert_eq!(c.database_url(), "sqlite:///tmp/from-flag/wuwei.db");
            let c = load_config(Some("127.0.0.1:7000".parse().unwrap()), &db).unwrap();
            assert_eq!(c.listen.port(), 7000);
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors() {
        let dir = std::env::temp_dir().join(format!("wuwei-cfg-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.toml");
        std::fs::write(&file, "lisen = \"127.0.0.1:9000\"\n").unwrap();
        let db = DbArgs { config: Some(file), ..DbArgs::default() };
        assert!(load_config(None, &db).is_err());
    }

    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
