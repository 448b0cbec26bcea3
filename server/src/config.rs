//! Command line and environment: every flag of `yui serve` is also an environment variable.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use yui_protocol::limits;

#[derive(Debug, Parser)]
#[command(
    name = "yui",
    version,
    about = "Yui (結): real-time messaging hub for home-care teams"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the hub.
    Serve(Box<ServeArgs>),
    /// Mint a token with the configured key (for operators and tests).
    Token(Box<TokenArgs>),
    /// Apply database migrations and exit.
    Migrate(MigrateArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JwtAlgorithm {
    Hs256,
    Rs256,
    Es256,
}

/// How tokens are verified (and, with a secret, minted).
#[derive(Debug, Clone, Args)]
pub struct JwtArgs {
    /// Shared secret for HS256 tokens.
    #[arg(long, env = "YUI_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// PEM public key file for RS256/ES256 tokens (verification only).
    #[arg(long, env = "YUI_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,
    /// Signing algorithm.
    #[arg(long, env = "YUI_JWT_ALGORITHM", value_enum, default_value = "hs256")]
    pub jwt_algorithm: JwtAlgorithm,
    /// Required `aud` claim.
    #[arg(long, env = "YUI_JWT_AUDIENCE", default_value = "yui")]
    pub jwt_audience: String,
    /// Required `iss` claim, when set.
    #[arg(long, env = "YUI_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Clock leeway for exp/nbf/iat, seconds.
    #[arg(long, env = "YUI_JWT_LEEWAY", default_value_t = limits::JWT_LEEWAY_SECONDS)]
    pub jwt_leeway: u64,
}

/// Where data lives: SQLite under the data dir unless a Postgres URL is given.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Directory for the embedded SQLite database.
    #[arg(long, env = "YUI_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Postgres URL: cluster mode (history in Postgres instead of SQLite).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Postgres connections per node.
    #[arg(long, env = "YUI_DB_POOL", default_value_t = 16)]
    pub db_pool: u32,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "YUI_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub jwt: JwtArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Redis URL: cluster mode (events between nodes over Redis pub/sub).
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// The Redis URL names a Redis Cluster (sharded pub/sub); implied by `redis+cluster://`.
    #[arg(long, env = "YUI_REDIS_CLUSTER")]
    pub redis_cluster: bool,
    /// Prefix of this deployment's Redis channels (deployments sharing a Redis need their own).
    #[arg(long, env = "YUI_REDIS_PREFIX", default_value = "yui")]
    pub redis_prefix: String,
    /// This node's name, shown in `welcome` (default: host name and port).
    #[arg(long, env = "YUI_NODE")]
    pub node: Option<String>,
    /// Directory of the browser client served at `/`.
    #[arg(long, env = "YUI_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// Demo mode: seed the demo town, print demo tokens, serve the demo sign-in list. Uses a
    /// fixed demo secret when none is configured. Never in production.
    #[arg(long, env = "YUI_DEMO")]
    pub demo: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Protocol limits (PROTOCOL.md 3.5).
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Largest frame in bytes; past it the connection is closed with 1009.
    #[arg(long, env = "YUI_MAX_FRAME_BYTES", default_value_t = limits::MAX_FRAME_BYTES)]
    pub max_frame_bytes: usize,
    /// Sustained frames per second per connection.
    #[arg(long, env = "YUI_RATE_PER_SECOND", default_value_t = limits::FRAMES_PER_SECOND)]
    pub rate_per_second: u32,
    /// Frame burst per connection.
    #[arg(long, env = "YUI_RATE_BURST", default_value_t = limits::FRAME_BURST)]
    pub rate_burst: u32,
    /// Seconds over the rate limit before closing with 4008.
    #[arg(long, env = "YUI_RATE_GRACE", default_value_t = limits::RATE_GRACE_SECONDS)]
    pub rate_grace: u64,
    /// Events queued per connection before closing with 4009.
    #[arg(long, env = "YUI_OUTBOUND_QUEUE", default_value_t = limits::OUTBOUND_QUEUE)]
    pub outbound_queue: usize,
    /// Subscriptions per connection.
    #[arg(long, env = "YUI_MAX_SUBSCRIPTIONS", default_value_t = limits::MAX_SUBSCRIPTIONS)]
    pub max_subscriptions: usize,
    /// Bad frames in a row before closing with 1008.
    #[arg(long, env = "YUI_BAD_FRAME_STREAK", default_value_t = limits::BAD_FRAME_STREAK)]
    pub bad_frame_streak: u32,
    /// Seconds to wait for `hello`.
    #[arg(long, env = "YUI_HELLO_TIMEOUT", default_value_t = limits::HELLO_TIMEOUT_SECONDS)]
    pub hello_timeout: u64,
    /// WebSocket ping interval in seconds.
    #[arg(long, env = "YUI_HEARTBEAT", default_value_t = limits::HEARTBEAT_SECONDS)]
    pub heartbeat: u64,
    /// Most concurrent connections (further upgrades get 503).
    #[arg(long, env = "YUI_MAX_CONNECTIONS", default_value_t = 200_000)]
    pub max_connections: usize,
    /// Seconds to drain on SIGTERM before exiting.
    #[arg(long, env = "YUI_SHUTDOWN_GRACE", default_value_t = 10)]
    pub shutdown_grace: u64,
    /// Most writes in one group commit.
    #[arg(long, env = "YUI_COMMIT_BATCH", default_value_t = 512)]
    pub commit_batch: usize,
}

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub jwt: JwtArgs,
    /// User id.
    #[arg(long)]
    pub sub: String,
    /// Display name.
    #[arg(long)]
    pub name: String,
    /// doctor, nurse, pharmacist, care_manager, care_worker, therapist, social_worker, municipal or other.
    #[arg(long)]
    pub profession: String,
    /// Organization.
    #[arg(long)]
    pub org: String,
    /// Town id.
    #[arg(long)]
    pub town: String,
    /// member, coordinator or admin.
    #[arg(long)]
    pub role: Option<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 8 * 3600)]
    pub ttl: i64,
}

#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub store: StoreArgs,
}

/// The demo secret used by `--demo` when no secret is configured. Demo only.
pub const DEMO_SECRET: &str = "yui-demo-secret-do-not-use-in-production";
