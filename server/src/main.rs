//! `yui`: the hub's command line. All the work is in the `yui_server` library.

use clap::Parser;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;
use yui_server::config::{Cli, Command};

/// jemalloc rather than glibc's malloc: the hub allocates and frees many small buffers per
/// frame and per statement across threads; on Postgres glibc's malloc took ~15 % of the hub's
/// CPU, and jemalloc cut the hub's CPU per post by 18 % with the same memory per connection
/// (mimalloc: 12.9 KiB per idle connection instead of 9.3). `docs/benchmarks.md`, 2026-12-03
/// afternoon.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("yui: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let listener = TcpListener::bind(args.listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
            yui_server::app::run(*args, listener, yui_server::shutdown::signal()).await
        }
        Command::Token(args) => {
            let minter = yui_server::auth::Minter::from_args(&args.jwt, None)?;
            let token = minter.mint(
                &args.sub,
                &args.name,
                &args.profession,
                &args.org,
                &args.town,
                args.role.as_deref(),
                args.ttl,
            )?;
            println!("{token}");
            Ok(())
        }
        Command::Migrate(args) => {
            yui_server::app::open_store(&args.store).await?;
            println!("migrations applied");
            Ok(())
        }
    }
}
