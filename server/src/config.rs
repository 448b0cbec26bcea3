//! Command line and environment: every flag of `yui serve` is also an environment variable.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use yui_protocol::limits;

/// Defaults of the flags that are not protocol limits, shared by the command line and
/// [`ServeArgs::new`] (the typed way to configure a hub, for tests and embedders).
pub mod defaults {
    pub const LISTEN: &str = "127.0.0.1:8080";
    pub const DATA_DIR: &str = "./data";
    pub const DB_POOL: u32 = 16;
    pub const JWT_AUDIENCE: &str = "yui";
    pub const REDIS_PREFIX: &str = "yui";
    /// IPAex Gothic as Debian's fonts-ipaexfont-gothic installs it.
    pub const EXPORT_FONT: &str = "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf";
    pub const MAX_CONNECTIONS: usize = 200_000;
    pub const SHUTDOWN_GRACE: u64 = 10;
    pub const COMMIT_BATCH: usize = 512;
    /// Far below what a person notices in a receipt, several posts' spacing at a town's load.
    pub const READ_LINGER_MS: u64 = 20;
    /// Connections still before their first response (PROTOCOL.md 5.1); lowered to a quarter
    /// of the open-file limit when that is smaller.
    pub const MAX_PENDING_CONNECTIONS: usize = 1024;
    /// Seconds to send complete request headers (PROTOCOL.md 5.1).
    pub const HEADER_TIMEOUT: u64 = 10;
    /// The largest attachment (PROTOCOL.md 5.3).
    pub const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;
    /// Seconds an upload may stay unposted before it is deleted (PROTOCOL.md 5.3: 24 h).
    pub const UNPOSTED_ATTACHMENT_TTL: u64 = 24 * 3600;
    /// Seconds between two clean-ups of unposted attachments.
    pub const ATTACHMENT_GC_INTERVAL: u64 = 600;
    pub const VAPID_SUBJECT: &str = "mailto:yui@localhost";
    pub const PUSH_COALESCE: u64 = 60;
    pub const PUSH_LEASE: u64 = 30;
    pub const PUSH_TTL: u64 = 12 * 3600;
    pub const PUSH_MAX_ATTEMPTS: u32 = 5;
    pub const PUSH_BACKOFF_MS: u64 = 1000;
    pub const PUSH_PRESENCE_MS: u64 = 1000;
    pub const DIGEST_MINUTES: u64 = 60;
}

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
    #[arg(long, env = "YUI_JWT_AUDIENCE", default_value = defaults::JWT_AUDIENCE)]
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
    #[arg(long, env = "YUI_DATA_DIR", default_value = defaults::DATA_DIR)]
    pub data_dir: PathBuf,
    /// Postgres URL: cluster mode (history in Postgres instead of SQLite).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Postgres connections per node.
    #[arg(long, env = "YUI_DB_POOL", default_value_t = defaults::DB_POOL)]
    pub db_pool: u32,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "YUI_LISTEN", default_value = defaults::LISTEN)]
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
    #[arg(long, env = "YUI_REDIS_PREFIX", default_value = defaults::REDIS_PREFIX)]
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
    /// An origin (`https://host[:port]`) whose pages may open WebSocket connections besides
    /// the hub's own; repeatable (env: comma-separated).
    #[arg(
        long = "allowed-origin",
        env = "YUI_ALLOWED_ORIGIN",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// Team rooms without a standing consent (同意書, PROTOCOL.md 5.4) refuse posts; reading
    /// goes on.
    #[arg(long, env = "YUI_REQUIRE_CONSENT")]
    pub require_consent: bool,
    /// A TrueType font with Japanese glyphs for PDF exports (Debian's fonts-ipaexfont-gothic).
    #[arg(long, env = "YUI_EXPORT_FONT", default_value = defaults::EXPORT_FONT)]
    pub export_font: PathBuf,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub push: PushArgs,
}

/// Web Push (PROTOCOL.md 5.6).
#[derive(Debug, Clone, Args)]
pub struct PushArgs {
    /// Also accept `http://` push endpoints (tests, closed networks); off: `https://` only.
    #[arg(long, env = "YUI_PUSH_ALLOW_INSECURE")]
    pub push_allow_insecure: bool,
    /// The contact the push services see in each VAPID token (`mailto:` or `https:`).
    #[arg(long, env = "YUI_VAPID_SUBJECT", default_value = defaults::VAPID_SUBJECT)]
    pub vapid_subject: String,
    /// At most one push per device and room in this many seconds (later posts are coalesced
    /// into one push at the end of the window).
    #[arg(long, env = "YUI_PUSH_COALESCE_SECONDS", default_value_t = defaults::PUSH_COALESCE)]
    pub push_coalesce_seconds: u64,
    /// Seconds a claimed push belongs to one node before another may send it.
    #[arg(long, env = "YUI_PUSH_LEASE_SECONDS", default_value_t = defaults::PUSH_LEASE)]
    pub push_lease_seconds: u64,
    /// `TTL` of each push: seconds the push service keeps it for a device that is offline.
    #[arg(long, env = "YUI_PUSH_TTL_SECONDS", default_value_t = defaults::PUSH_TTL)]
    pub push_ttl_seconds: u64,
    /// Tries of one push (5xx, 429, timeouts) before it is given up.
    #[arg(long, env = "YUI_PUSH_MAX_ATTEMPTS", default_value_t = defaults::PUSH_MAX_ATTEMPTS)]
    pub push_max_attempts: u32,
    /// Milliseconds before the first retry, doubled for each further one.
    #[arg(long, env = "YUI_PUSH_BACKOFF_MS", default_value_t = defaults::PUSH_BACKOFF_MS)]
    pub push_backoff_ms: u64,
    /// Milliseconds between writes of this node's presence (who is subscribed where).
    #[arg(long, env = "YUI_PUSH_PRESENCE_MS", default_value_t = defaults::PUSH_PRESENCE_MS)]
    pub push_presence_ms: u64,
    /// Tests only: milliseconds to wait between claiming pushes and sending them.
    #[arg(long, env = "YUI_PUSH_TEST_DELAY_MS", default_value_t = 0, hide = true)]
    pub push_test_delay_ms: u64,
    /// SMTP server for email digests (`smtp://host:port`, `smtps://…`, credentials in the
    /// URL); digests are off without it.
    #[arg(long, env = "YUI_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The digests' sender (`Yui <yui@example.org>`); needed with `--smtp-url`.
    #[arg(long, env = "YUI_SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// Minutes a user must have been away before a digest, and between two digests.
    #[arg(long, env = "YUI_DIGEST_MINUTES", default_value_t = defaults::DIGEST_MINUTES)]
    pub digest_minutes: u64,
    /// Tests only: the digest interval in milliseconds (overrides `--digest-minutes`).
    #[arg(long, env = "YUI_DIGEST_TEST_INTERVAL_MS", hide = true)]
    pub digest_test_interval_ms: Option<u64>,
}

impl Default for PushArgs {
    fn default() -> Self {
        PushArgs {
            push_allow_insecure: false,
            vapid_subject: defaults::VAPID_SUBJECT.into(),
            push_coalesce_seconds: defaults::PUSH_COALESCE,
            push_lease_seconds: defaults::PUSH_LEASE,
            push_ttl_seconds: defaults::PUSH_TTL,
            push_max_attempts: defaults::PUSH_MAX_ATTEMPTS,
            push_backoff_ms: defaults::PUSH_BACKOFF_MS,
            push_presence_ms: defaults::PUSH_PRESENCE_MS,
            push_test_delay_ms: 0,
            smtp_url: None,
            smtp_from: None,
            digest_minutes: defaults::DIGEST_MINUTES,
            digest_test_interval_ms: None,
        }
    }
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
    #[arg(long, env = "YUI_MAX_CONNECTIONS", default_value_t = defaults::MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Most connections that have not yet had their first request answered (or upgraded);
    /// one more closes the oldest of them. At most a quarter of the open-file limit.
    #[arg(long, env = "YUI_MAX_PENDING_CONNECTIONS", default_value_t = defaults::MAX_PENDING_CONNECTIONS)]
    pub max_pending_connections: usize,
    /// Seconds a connection has to send complete request headers before it is closed.
    #[arg(long, env = "YUI_HEADER_TIMEOUT", default_value_t = defaults::HEADER_TIMEOUT)]
    pub header_timeout: u64,
    /// Seconds to drain on SIGTERM before exiting.
    #[arg(long, env = "YUI_SHUTDOWN_GRACE", default_value_t = defaults::SHUTDOWN_GRACE)]
    pub shutdown_grace: u64,
    /// Most writes in one group commit.
    #[arg(long, env = "YUI_COMMIT_BATCH", default_value_t = defaults::COMMIT_BATCH)]
    pub commit_batch: usize,
    /// Milliseconds a group commit of reads only waits for more writes (a post ends the wait
    /// at once), so most reads share a post's commit; 0 commits each batch at once.
    #[arg(long, env = "YUI_READ_LINGER_MS", default_value_t = defaults::READ_LINGER_MS)]
    pub read_linger_ms: u64,
    /// Largest attachment in bytes; past it the upload is refused with 413 while it is read.
    #[arg(long, env = "YUI_MAX_ATTACHMENT_BYTES", default_value_t = defaults::MAX_ATTACHMENT_BYTES)]
    pub max_attachment_bytes: usize,
    /// Seconds an uploaded attachment may stay out of any message before it is deleted.
    #[arg(long, env = "YUI_UNPOSTED_ATTACHMENT_TTL", default_value_t = defaults::UNPOSTED_ATTACHMENT_TTL)]
    pub unposted_attachment_ttl: u64,
    /// Seconds between two clean-ups of unposted attachments (every node runs them).
    #[arg(long, env = "YUI_ATTACHMENT_GC_INTERVAL", default_value_t = defaults::ATTACHMENT_GC_INTERVAL)]
    pub attachment_gc_interval: u64,
}

impl ServeArgs {
    /// A hub listening on `listen` with every other setting at its default (no environment
    /// is read): the typed counterpart of `yui serve --listen <listen>`.
    pub fn new(listen: SocketAddr) -> Self {
        ServeArgs {
            listen,
            jwt: JwtArgs {
                jwt_secret: None,
                jwt_public_key: None,
                jwt_algorithm: JwtAlgorithm::Hs256,
                jwt_audience: defaults::JWT_AUDIENCE.into(),
                jwt_issuer: None,
                jwt_leeway: limits::JWT_LEEWAY_SECONDS,
            },
            store: StoreArgs {
                data_dir: PathBuf::from(defaults::DATA_DIR),
                database_url: None,
                db_pool: defaults::DB_POOL,
            },
            redis_url: None,
            redis_cluster: false,
            redis_prefix: defaults::REDIS_PREFIX.into(),
            node: None,
            web_dir: None,
            export_font: PathBuf::from(defaults::EXPORT_FONT),
            demo: false,
            allowed_origins: Vec::new(),
            require_consent: false,
            limits: LimitArgs::default(),
            push: PushArgs::default(),
        }
    }
}

impl Default for LimitArgs {
    fn default() -> Self {
        LimitArgs {
            max_frame_bytes: limits::MAX_FRAME_BYTES,
            rate_per_second: limits::FRAMES_PER_SECOND,
            rate_burst: limits::FRAME_BURST,
            rate_grace: limits::RATE_GRACE_SECONDS,
            outbound_queue: limits::OUTBOUND_QUEUE,
            max_subscriptions: limits::MAX_SUBSCRIPTIONS,
            bad_frame_streak: limits::BAD_FRAME_STREAK,
            hello_timeout: limits::HELLO_TIMEOUT_SECONDS,
            heartbeat: limits::HEARTBEAT_SECONDS,
            max_connections: defaults::MAX_CONNECTIONS,
            max_pending_connections: defaults::MAX_PENDING_CONNECTIONS,
            header_timeout: defaults::HEADER_TIMEOUT,
            shutdown_grace: defaults::SHUTDOWN_GRACE,
            commit_batch: defaults::COMMIT_BATCH,
            read_linger_ms: defaults::READ_LINGER_MS,
            max_attachment_bytes: defaults::MAX_ATTACHMENT_BYTES,
            unposted_attachment_ttl: defaults::UNPOSTED_ATTACHMENT_TTL,
            attachment_gc_interval: defaults::ATTACHMENT_GC_INTERVAL,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_defaults_are_the_command_lines() {
        // Only when no YUI_* variable is set here (they would change the parsed side).
        if std::env::vars()
            .any(|(k, _)| k.starts_with("YUI_") || k == "DATABASE_URL" || k == "REDIS_URL")
        {
            return;
        }
        let cli = Cli::try_parse_from(["yui", "serve"]).map_err(|e| e.to_string());
        let Ok(Cli {
            command: Command::Serve(parsed),
        }) = cli
        else {
            panic!("yui serve did not parse: {cli:?}");
        };
        let typed = ServeArgs::new(parsed.listen);
        assert_eq!(format!("{typed:?}"), format!("{parsed:?}"));
        assert_eq!(parsed.listen.to_string(), defaults::LISTEN);
    }
}
