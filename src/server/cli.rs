//! Command line: `serve` (default), `migrate`, `api-key …`, `staff …`, `audit verify`, `keys …`,
//! `oauth-client …`.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

use super::audit::{self, Actor, RequestContext};
use super::clock::Clock;
use super::config::Config;
use super::db::Db;
use super::error::AppError;
use super::http::build_router;
use super::service::{api_keys, staff};
use super::state::AppState;
use super::timefmt::rfc3339;

#[derive(Parser)]
#[command(
    name = "lanyard",
    version,
    about = "Self-hostable B2B SaaS onboarding and identity lifecycle"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database and serve HTTP (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage vendor API keys.
    #[command(name = "api-key")]
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Manage support console staff accounts.
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Check the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Write a consistent copy of the SQLite database while Lanyard serves.
    Backup {
        /// The new file to write.
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Replace the SQLite database with a backup (stop Lanyard first).
    Restore {
        #[arg(long)]
        from: std::path::PathBuf,
        /// Replace an existing database.
        #[arg(long)]
        force: bool,
    },
    /// The OpenID Provider's signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The OpenID Provider's OAuth clients.
    #[command(name = "oauth-client")]
    OauthClient {
        #[command(subcommand)]
        command: OauthClientCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Rotate: the published next key starts signing, the current one stays published until its
    /// tokens expire, and a new next key is published.
    Rotate {
        /// The current key is compromised: withdraw it (and the next key) at once; tokens it
        /// signed stop verifying.
        #[arg(long)]
        revoke_current: bool,
        /// Algorithm of the new keys: RS256 (default) or ES256.
        #[arg(long, default_value = "RS256")]
        alg: String,
    },
    /// List the published keys.
    List,
}

#[derive(Subcommand)]
enum OauthClientCommand {
    /// Register a client; prints its client id, then its secret alone on the last line, once.
    Create {
        #[arg(long)]
        name: String,
        /// An exact redirect URI (repeat for several).
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// Where end-session may return to (repeat for several).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (no secret, PKCE required).
        #[arg(long)]
        public: bool,
    },
    /// List clients (never their secrets).
    List,
    /// Delete a client by id (oc_…).
    Delete { id: String },
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Create a key; the key is printed alone on the last line, once.
    Create {
        #[arg(long)]
        name: String,
    },
    /// List keys (never the secrets).
    List,
    /// Revoke a key by id (key_…).
    Revoke { id: String },
}

#[derive(Subcommand)]
enum StaffCommand {
    /// Create an account; its one-time setup link is printed alone on the last line.
    Create {
        #[arg(long)]
        email: String,
        /// viewer (reads only) or admin (may also act).
        #[arg(long, default_value = "viewer")]
        role: String,
    },
    /// List accounts.
    List,
    /// Start an account over (new password and authenticator); prints a new setup link last.
    Reset {
        #[arg(long)]
        email: String,
    },
    /// Disable an account; its sessions end on their next request.
    Disable {
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify hash chains: every organization's, or one.
    Verify {
        #[arg(long)]
        organization: Option<String>,
    },
}

/// Entry point of the binary.
pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = super::telemetry::init();
    let code = run_command(cli).await;
    super::telemetry::shutdown(telemetry);
    code
}

async fn run_command(cli: Cli) -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // A restore replaces the database file: it must not open (and migrate) it first.
    if let Some(Command::Restore { from, force }) = &cli.command {
        return match super::backup::restore(&config.database_url, from, *force).await {
            Ok(path) => {
                println!(
                    "Restored {} from {}. Start Lanyard; then run `lanyard audit verify`.",
                    path.display(),
                    from.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    let db = match connect(&config).await {
        Ok(db) => db,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let clock = Clock::default();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(db, config, clock).await,
        Command::Migrate => {
            println!("migrations applied");
            ExitCode::SUCCESS
        }
        Command::ApiKey { command } => api_key(&db, command, &clock).await,
        Command::Staff { command } => staff(db, config, clock, command).await,
        Command::Audit {
            command: AuditCommand::Verify { organization },
        } => verify(&db, organization).await,
        Command::Backup { to } => match super::backup::backup(&db, &to).await {
            Ok(bytes) => {
                println!("Backed up to {} ({bytes} bytes).", to.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Restore { .. } => ExitCode::FAILURE,
        Command::Keys { command } => keys(db, config, clock, command).await,
        Command::OauthClient { command } => oauth_client(db, config, clock, command).await,
    }
}

async fn connect(config: &Config) -> Result<Db, String> {
    let db = Db::connect(&config.database_url)
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
    db.migrate()
        .await
        .map_err(|e| format!("cannot migrate the database: {e}"))?;
    Ok(db)
}

async fn serve(db: Db, config: Config, clock: Clock) -> ExitCode {
    let listen = config.listen;
    let public = config.base_url();
    let state = match AppState::new(db, config, clock) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    super::jobs::spawn_all(&state);
    if let Some(addr) = state.config.metrics_listen {
        // Metrics on their own address (e.g. only reachable from the cluster's Prometheus).
        let metrics = axum::Router::new()
            .route("/metrics", axum::routing::get(super::http::metrics_text))
            .with_state(state.clone());
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => {
                tracing::info!(%addr, "metrics are served");
                tokio::spawn(async move { axum::serve(l, metrics).await });
            }
            Err(e) => {
                eprintln!("cannot listen on {addr} (LANYARD_METRICS_LISTEN): {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let scim_log = state.scim_log.clone();
    let stopping = state.clone();
    let app = build_router(state);
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(%listen, %public, "Lanyard is listening");
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(stop_requested())
    .await;
    // The SCIM request log rows of the last exchanges answered (written behind the answers).
    scim_log.flush().await;
    // Deliveries leased but not sent: another node (or the next start) sends them at once.
    match super::service::webhooks::release_leases(&stopping).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(released = n, "webhook delivery leases given back"),
        Err(e) => {
            tracing::warn!(error = %e.cause_chain(), "webhook leases not given back; they end on their own")
        }
    }
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Ctrl-C, or SIGTERM (what `docker stop`, systemd and Kubernetes send): the server stops
/// accepting, finishes the requests in flight and writes what it wrote behind its answers.
async fn stop_requested() {
    let terminate = async {
        #[cfg(unix)]
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("stopping: finishing the requests in flight");
}

async fn api_key(db: &Db, command: ApiKeyCommand, clock: &Clock) -> ExitCode {
    let actor = Actor::operator();
    let ctx = RequestContext::default();
    match command {
        ApiKeyCommand::Create { name } => {
            match api_keys::create(db, &actor, &ctx, &name, clock.now()).await {
                Ok((info, secret)) => {
                    println!(
                        "Created API key {} ({}). Store it now; it is not shown again:",
                        info.id, info.name
                    );
                    println!("{secret}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    e.log("cli");
                    eprintln!("{}", e.public_message("cli"));
                    ExitCode::FAILURE
                }
            }
        }
        ApiKeyCommand::List => match api_keys::list(db).await {
            Ok(keys) => {
                for k in keys {
                    println!(
                        "{}\t{}\t…{}\t{}",
                        k.id,
                        k.name,
                        k.hint,
                        if k.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "active"
                        }
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                e.log("cli");
                eprintln!("{}", e.public_message("cli"));
                ExitCode::FAILURE
            }
        },
        ApiKeyCommand::Revoke { id } => {
            match api_keys::revoke(db, &actor, &ctx, &id, clock.now()).await {
                Ok(()) => {
                    println!("revoked {id}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    e.log("cli");
                    eprintln!("{}", e.public_message("cli"));
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn staff(db: Db, config: Config, clock: Clock, command: StaffCommand) -> ExitCode {
    let state = match AppState::new(db, config, clock) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let actor = Actor::operator();
    let ctx = RequestContext::default();
    let fail = |e: AppError| {
        e.log("cli");
        eprintln!("{}", e.public_message("cli"));
        ExitCode::FAILURE
    };
    match command {
        StaffCommand::Create { email, role } => {
            match staff::create(&state, &actor, &ctx, &email, &role).await {
                Ok((member, link)) => {
                    println!(
                        "Created staff account {} ({}, {}). Send this one-time setup link to its owner; it expires in 7 days:",
                        member.id, member.email, member.role
                    );
                    println!("{link}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        StaffCommand::List => match staff::list(&state).await {
            Ok(all) => {
                for m in all {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        m.id,
                        m.email,
                        m.role,
                        m.state,
                        m.last_sign_in_at
                            .map(rfc3339)
                            .unwrap_or_else(|| "never signed in".into())
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        StaffCommand::Reset { email } => match staff::reset(&state, &actor, &ctx, &email).await {
            Ok((member, link)) => {
                println!(
                    "Reset staff account {} ({}): password and authenticator cleared, earlier links revoked. New one-time setup link, valid for 7 days:",
                    member.id, member.email
                );
                println!("{link}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        StaffCommand::Disable { email } => {
            match staff::disable(&state, &actor, &ctx, &email).await {
                Ok(member) => {
                    println!("disabled {} ({})", member.id, member.email);
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
    }
}

async fn verify(db: &Db, organization: Option<String>) -> ExitCode {
    // Events committed and not yet linked (PostgreSQL) are linked first, so every one is checked.
    db.caught_up().await;
    let mut conn = match db.pool.acquire().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot open the database: {e}");
            return ExitCode::FAILURE;
        }
    };
    let keys = match organization {
        Some(o) => vec![o],
        None => match audit::chain_keys(&mut conn).await {
            Ok(k) => k,
            Err(e) => {
                eprintln!("cannot read the audit trail: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let mut broken = 0;
    for key in keys {
        match audit::verify_chain(&mut conn, &key).await {
            Ok(r) => match r.first_broken {
                None => println!("ok\t{}\t{} events", r.chain_key, r.events_checked),
                Some((seq, id, why)) => {
                    broken += 1;
                    println!("BROKEN\t{}\tat sequence {seq} {id}: {why}", r.chain_key);
                }
            },
            Err(e) => {
                eprintln!("cannot read the audit trail: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if broken > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn cli_state(db: Db, config: Config, clock: Clock) -> Result<AppState, ExitCode> {
    AppState::new(db, config, clock).map_err(|e| {
        eprintln!("{e}");
        ExitCode::FAILURE
    })
}

fn cli_fail(e: AppError) -> ExitCode {
    e.log("cli");
    eprintln!("{}", e.public_message("cli"));
    ExitCode::FAILURE
}

async fn keys(db: Db, config: Config, clock: Clock, command: KeysCommand) -> ExitCode {
    use crate::server::service::oauth::keys;
    let state = match cli_state(db, config, clock) {
        Ok(s) => s,
        Err(c) => return c,
    };
    match command {
        KeysCommand::Rotate {
            revoke_current,
            alg,
        } => {
            let Some(alg) = keys::Alg::parse(&alg.to_ascii_uppercase()) else {
                eprintln!("--alg must be RS256 or ES256");
                return ExitCode::FAILURE;
            };
            match keys::rotate(
                &state,
                &Actor::operator(),
                &RequestContext::default(),
                revoke_current,
                alg,
            )
            .await
            {
                Ok(r) => {
                    println!(
                        "Signing with {} now; {} is published as the next key.",
                        r.active, r.next
                    );
                    if !r.retired.is_empty() {
                        let until = crate::server::timefmt::rfc3339(r.retired_until);
                        if revoke_current {
                            println!("Withdrawn now: {}", r.retired.join(", "));
                        } else {
                            println!(
                                "Retired (published until {until}): {}",
                                r.retired.join(", ")
                            );
                        }
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => cli_fail(e),
            }
        }
        KeysCommand::List => match keys::published(&state).await {
            Ok(all) => {
                for k in all {
                    println!(
                        "{}\t{}\t{}\tcreated {}",
                        k.kid,
                        k.alg,
                        k.state,
                        crate::server::timefmt::rfc3339(k.created_at)
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => cli_fail(e),
        },
    }
}

async fn oauth_client(
    db: Db,
    config: Config,
    clock: Clock,
    command: OauthClientCommand,
) -> ExitCode {
    use crate::server::service::oauth::clients::{self, AuthMethod, CreateClient};
    let state = match cli_state(db, config, clock) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let (actor, ctx) = (Actor::operator(), RequestContext::default());
    match command {
        OauthClientCommand::Create {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
        } => {
            let input = CreateClient {
                name,
                redirect_uris,
                post_logout_redirect_uris,
                allowed_organizations: None,
                token_endpoint_auth_method: public.then_some(AuthMethod::None),
            };
            match clients::create(&state, &actor, &ctx, input).await {
                Ok(c) => {
                    println!("Created OAuth client {} ({}).", c.client.id, c.client.name);
                    println!("Issuer: {}", state.config.base_url());
                    println!("client_id: {}", c.client.client_id);
                    if let Some(s) = c.client_secret {
                        println!("client_secret (shown once):");
                        println!("{s}");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => cli_fail(e),
            }
        }
        OauthClientCommand::List => match clients::list(&state).await {
            Ok(all) => {
                for c in all {
                    println!(
                        "{}\t{}\t{}\t{}",
                        c.id,
                        c.client_id,
                        c.name,
                        c.redirect_uris.join(",")
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => cli_fail(e),
        },
        OauthClientCommand::Delete { id } => {
            let Some(id) = crate::domain::ids::OauthClientId::parse(&id) else {
                eprintln!("{id} is not an OAuth client id (oc_…)");
                return ExitCode::FAILURE;
            };
            match clients::delete(&state, &actor, &ctx, &id).await {
                Ok(()) => {
                    println!("Deleted.");
                    ExitCode::SUCCESS
                }
                Err(e) => cli_fail(e),
            }
        }
    }
}
