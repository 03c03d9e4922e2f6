//! Runtime configuration, read once from the environment.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Every `LANYARD_*` variable Lanyard understands; any other is refused at start.
pub const KNOWN_VARS: &[&str] = &[
    "LANYARD_ENV",
    "LANYARD_LISTEN",
    "LANYARD_PUBLIC_URL",
    "LANYARD_SECRET_KEY",
    "LANYARD_DATA_DIR",
    "LANYARD_SMTP_URL",
    "LANYARD_DNS_SERVERS",
    "LANYARD_ALLOW_PRIVATE_NETWORK",
    "LANYARD_REDIRECT_URIS",
    "LANYARD_RATE_LIMITS",
    "LANYARD_VENDOR_NAME",
    "LANYARD_VENDOR_LOGO_URL",
    "LANYARD_VENDOR_COLOR",
    "LANYARD_LOG",
    "LANYARD_DOMAIN_REPROOF_INTERVAL",
    "LANYARD_DOMAIN_LAPSE_GRACE",
    "LANYARD_SAML_CLOCK_SKEW",
    "LANYARD_SCIM_TOKEN_OVERLAP",
    "LANYARD_EVENT_RETENTION",
    "LANYARD_TRUSTED_PROXIES",
    "LANYARD_METRICS_LISTEN",
    "LANYARD_METRICS_TOKEN",
    "LANYARD_LOG_FORMAT",
    "LANYARD_SECRET_KEY_FILE",
    "LANYARD_SMTP_URL_FILE",
    "LANYARD_METRICS_TOKEN_FILE",
    "LANYARD_WORKOS_COMPAT",
];

/// Deployment environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

/// Branding shown in the admin portal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Branding {
    pub vendor_name: String,
    pub logo_url: Option<String>,
    pub color: String,
}

/// Parsed configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub env: Environment,
    pub listen: SocketAddr,
    pub public_url: url::Url,
    pub database_url: String,
    pub data_dir: PathBuf,
    pub site_root: String,
    /// 32-byte key for secrets at rest.
    pub secret_key: [u8; 32],
    pub allow_private_network: bool,
    pub rate_limits: bool,
    pub redirect_uris: Vec<String>,
    pub branding: Branding,
    /// DNS servers for domain checks; empty means the system resolver.
    pub dns_servers: Vec<SocketAddr>,
    /// Domain re-proof and lapse timing.
    pub domain_policy: crate::domain::domain_state::Policy,
    /// Clock difference allowed with SAML IdPs (default 2 minutes, at most 10).
    pub saml_clock_skew_ms: i64,
    /// How long a rotated-out SCIM token keeps working (default 1 hour).
    pub scim_token_overlap_ms: i64,
    /// `LANYARD_SMTP_URL`: where mail goes; unset → `.eml` files under `<data dir>/mail`.
    pub smtp_url: Option<String>,
    /// `LANYARD_EVENT_RETENTION`: how long the events feed keeps events (default 90 days).
    pub event_retention_ms: i64,
    /// `LANYARD_TRUSTED_PROXIES`: the reverse proxies whose `X-Forwarded-For` names the client
    /// (default: none, the connection's peer is the client).
    pub trusted_proxies: crate::server::forwarded::TrustedProxies,
    /// `LANYARD_METRICS_LISTEN`: a separate address for `/metrics` (unset: the main listener).
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// `LANYARD_METRICS_TOKEN`: when set, `/metrics` wants `Authorization: Bearer <token>`.
    pub metrics_token: Option<String>,
    /// `LANYARD_WORKOS_COMPAT`: serve the WorkOS-compatible API at the root (default off).
    pub workos_compat: bool,
}

/// A configuration problem, worded for the operator.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        let vars: BTreeMap<String, String> = std::env::vars().collect();
        Config::from_vars(&vars)
    }

    /// Reads configuration from a map of variables (the process environment, or a test's).
    ///
    /// Variables are read in a fixed order, so the first problem reported is always the same.
    pub fn from_vars(vars: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        refuse_unknown_vars(vars)?;
        let with_files = read_secret_files(vars)?;
        let vars = &with_files;
        let v = Vars(vars);
        let env = environment(&v)?;
        let listen = listen_address(&v)?;
        let public_url = public_url(&v, env)?;
        let data_dir = PathBuf::from(v.get("LANYARD_DATA_DIR").unwrap_or("data"));
        let database_url = database_url(&v, &data_dir)?;
        let site_root = vars
            .get("LEPTOS_SITE_ROOT")
            .cloned()
            .unwrap_or_else(|| "target/site".into());
        let secret_key = secret_key(&v, env, &data_dir)?;
        let allow_private_network = v.flag("LANYARD_ALLOW_PRIVATE_NETWORK", false)?;
        let rate_limits = v.flag("LANYARD_RATE_LIMITS", true)?;
        let workos_compat = v.flag("LANYARD_WORKOS_COMPAT", false)?;
        let redirect_uris = redirect_uris(&v);
        let branding = branding(&v)?;
        let dns_servers = dns_servers(&v)?;
        let domain_policy = domain_policy(&v)?;
        let saml_clock_skew_ms = match v.get("LANYARD_SAML_CLOCK_SKEW") {
            None => 120_000,
            Some(raw) => parse_skew(raw)?,
        };
        let scim_token_overlap_ms = match v.get("LANYARD_SCIM_TOKEN_OVERLAP") {
            None => 3_600_000,
            Some(raw) => parse_duration_ms("LANYARD_SCIM_TOKEN_OVERLAP", raw)?,
        };
        let event_retention_ms = event_retention_ms(&v)?;
        let smtp_url = v.get("LANYARD_SMTP_URL").map(str::to_owned);
        let trusted_proxies = trusted_proxies(&v)?;
        let metrics_listen = match v.get("LANYARD_METRICS_LISTEN") {
            None | Some("") => None,
            Some(raw) => Some(raw.parse().map_err(|_| {
                ConfigError("LANYARD_METRICS_LISTEN must look like 127.0.0.1:9090".into())
            })?),
        };
        let metrics_token = v
            .get("LANYARD_METRICS_TOKEN")
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        if let Some(t) = &metrics_token {
            if t.len() < 16 {
                return Err(ConfigError(
                    "LANYARD_METRICS_TOKEN must be at least 16 characters".into(),
                ));
            }
        }
        match v.get("LANYARD_LOG_FORMAT") {
            None | Some("text" | "json") => {}
            Some(other) => {
                return Err(ConfigError(format!(
                    "LANYARD_LOG_FORMAT is '{other}'; use 'text' or 'json'"
                )))
            }
        }
        Ok(Config {
            workos_compat,
            metrics_listen,
            metrics_token,
            trusted_proxies,
            saml_clock_skew_ms,
            smtp_url,
            event_retention_ms,
            scim_token_overlap_ms,
            env,
            listen,
            public_url,
            database_url,
            data_dir,
            site_root,
            secret_key,
            allow_private_network,
            rate_limits,
            redirect_uris,
            branding,
            dns_servers,
            domain_policy,
        })
    }

    /// The public base URL without a trailing slash.
    pub fn base_url(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_owned()
    }

    /// The public origin (`scheme://host[:port]`), used by the CSRF check.
    pub fn public_origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }

    /// Cookies are `Secure` unless Lanyard is reached over plain http on a loopback address.
    pub fn secure_cookies(&self) -> bool {
        !(self.public_url.scheme() == "http"
            && matches!(
                self.public_url.host_str(),
                Some("127.0.0.1" | "localhost" | "[::1]")
            ))
    }
}

/// Secrets can come from files (container secrets, Kubernetes Secret volumes): `NAME_FILE` names
/// a file whose content (trimmed) is `NAME`. Setting both is refused.
const FILE_VARS: &[&str] = &[
    "LANYARD_SECRET_KEY",
    "LANYARD_SMTP_URL",
    "LANYARD_METRICS_TOKEN",
    "DATABASE_URL",
];

fn read_secret_files(
    vars: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut out = vars.clone();
    for name in FILE_VARS {
        let file_var = format!("{name}_FILE");
        let Some(path) = vars.get(&file_var).filter(|p| !p.trim().is_empty()) else {
            continue;
        };
        if vars.get(*name).is_some_and(|v| !v.trim().is_empty()) {
            return Err(ConfigError(format!(
                "{name} and {file_var} are both set; keep one"
            )));
        }
        let content = std::fs::read_to_string(path.trim())
            .map_err(|e| ConfigError(format!("{file_var}: cannot read {}: {e}", path.trim())))?;
        out.insert((*name).to_owned(), content.trim().to_owned());
    }
    Ok(out)
}

/// The variables being read: a blank value counts as unset.
struct Vars<'a>(&'a BTreeMap<String, String>);

impl Vars<'_> {
    /// The trimmed value of `k`, `None` when unset or blank.
    fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    /// A yes/no variable (`true`/`1`/`on`/`yes` or `false`/`0`/`off`/`no`).
    fn flag(&self, k: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(k) {
            None => Ok(default),
            Some("1" | "true" | "on" | "yes") => Ok(true),
            Some("0" | "false" | "off" | "no") => Ok(false),
            Some(other) => Err(ConfigError(format!("{k} is '{other}'; use true or false"))),
        }
    }
}

/// Any `LANYARD_*` variable not in [`KNOWN_VARS`] is refused (a typo must not pass silently).
fn refuse_unknown_vars(vars: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    let unknown: Vec<&str> = vars
        .keys()
        .filter(|k| k.starts_with("LANYARD_") && !KNOWN_VARS.contains(&k.as_str()))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(ConfigError(format!(
            "unknown variable(s) {}; known ones are {}",
            unknown.join(", "),
            KNOWN_VARS.join(", ")
        )));
    }
    Ok(())
}

/// `LANYARD_ENV`: development (default) or production.
fn environment(v: &Vars) -> Result<Environment, ConfigError> {
    match v.get("LANYARD_ENV").unwrap_or("development") {
        "development" => Ok(Environment::Development),
        "production" => Ok(Environment::Production),
        other => Err(ConfigError(format!(
            "LANYARD_ENV is '{other}'; use 'development' or 'production'"
        ))),
    }
}

/// `LANYARD_LISTEN`: the socket address to bind (default 127.0.0.1:3000).
fn listen_address(v: &Vars) -> Result<SocketAddr, ConfigError> {
    v.get("LANYARD_LISTEN")
        .unwrap_or("127.0.0.1:3000")
        .parse()
        .map_err(|_| ConfigError("LANYARD_LISTEN must look like 127.0.0.1:3000".into()))
}

/// `LANYARD_PUBLIC_URL`: an absolute http(s) URL with a host; https in production.
fn public_url(v: &Vars, env: Environment) -> Result<url::Url, ConfigError> {
    let public_url_raw = v
        .get("LANYARD_PUBLIC_URL")
        .unwrap_or("http://127.0.0.1:3000");
    let public_url = url::Url::parse(public_url_raw.trim_end_matches('/')).map_err(|_| {
        ConfigError(format!(
            "LANYARD_PUBLIC_URL '{public_url_raw}' is not an absolute URL such as https://lanyard.example.com"
        ))
    })?;
    if !matches!(public_url.scheme(), "http" | "https") || public_url.host().is_none() {
        return Err(ConfigError(
            "LANYARD_PUBLIC_URL must be an http(s) URL with a host".into(),
        ));
    }
    if env == Environment::Production && public_url.scheme() != "https" {
        return Err(ConfigError(
            "LANYARD_PUBLIC_URL must use https when LANYARD_ENV=production".into(),
        ));
    }
    Ok(public_url)
}

/// `DATABASE_URL`, or a SQLite file in the data directory; only SQLite and PostgreSQL.
fn database_url(v: &Vars, data_dir: &std::path::Path) -> Result<String, ConfigError> {
    let database_url = match v.get("DATABASE_URL") {
        Some(u) => u.to_owned(),
        None => {
            let abs = std::path::absolute(data_dir.join("lanyard.db"))
                .map_err(|e| ConfigError(format!("cannot resolve the data directory: {e}")))?;
            format!("sqlite://{}", abs.display())
        }
    };
    if !(database_url.starts_with("sqlite:")
        || database_url.starts_with("postgres://")
        || database_url.starts_with("postgresql://"))
    {
        return Err(ConfigError(
            "DATABASE_URL must start with sqlite: or postgres://".into(),
        ));
    }
    Ok(database_url)
}

/// `LANYARD_SECRET_KEY`: required in production; in development generated once into the data
/// directory when unset.
fn secret_key(
    v: &Vars,
    env: Environment,
    data_dir: &std::path::Path,
) -> Result<[u8; 32], ConfigError> {
    match v.get("LANYARD_SECRET_KEY") {
        Some(k) => parse_key(k),
        None if env == Environment::Production => Err(ConfigError(
            "LANYARD_SECRET_KEY is required when LANYARD_ENV=production (64 hex characters; generate with `openssl rand -hex 32`)".into(),
        )),
        None => dev_key(data_dir),
    }
}

/// `LANYARD_REDIRECT_URIS`: a comma-separated list (blank entries dropped).
fn redirect_uris(v: &Vars) -> Vec<String> {
    v.get("LANYARD_REDIRECT_URIS")
        .map(|s| {
            s.split(',')
                .map(|x| x.trim().to_owned())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// `LANYARD_VENDOR_NAME`, `LANYARD_VENDOR_LOGO_URL` and `LANYARD_VENDOR_COLOR` (`#rrggbb`).
fn branding(v: &Vars) -> Result<Branding, ConfigError> {
    let color = v
        .get("LANYARD_VENDOR_COLOR")
        .unwrap_or("#4f46e5")
        .to_owned();
    if !(color.len() == 7
        && color.starts_with('#')
        && color[1..].bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(ConfigError(format!(
            "LANYARD_VENDOR_COLOR is '{color}'; use a colour like #4f46e5"
        )));
    }
    Ok(Branding {
        vendor_name: v.get("LANYARD_VENDOR_NAME").unwrap_or("Lanyard").to_owned(),
        logo_url: v.get("LANYARD_VENDOR_LOGO_URL").map(str::to_owned),
        color,
    })
}

/// `LANYARD_DNS_SERVERS`: comma-separated IP addresses, port 53 unless given.
fn dns_servers(v: &Vars) -> Result<Vec<SocketAddr>, ConfigError> {
    let Some(list) = v.get("LANYARD_DNS_SERVERS") else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<SocketAddr>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                .map_err(|_| {
                    ConfigError(format!(
                        "LANYARD_DNS_SERVERS entry '{s}' must be an IP address with optional port, e.g. 10.0.0.2:53"
                    ))
                })
        })
        .collect()
}

/// `LANYARD_DOMAIN_REPROOF_INTERVAL` and `LANYARD_DOMAIN_LAPSE_GRACE` over the defaults.
fn domain_policy(v: &Vars) -> Result<crate::domain::domain_state::Policy, ConfigError> {
    let mut domain_policy = crate::domain::domain_state::Policy::default();
    if let Some(raw) = v.get("LANYARD_DOMAIN_REPROOF_INTERVAL") {
        domain_policy.reproof_interval_ms =
            parse_duration_ms("LANYARD_DOMAIN_REPROOF_INTERVAL", raw)?;
    }
    if let Some(raw) = v.get("LANYARD_DOMAIN_LAPSE_GRACE") {
        domain_policy.lapse_grace_ms = parse_duration_ms("LANYARD_DOMAIN_LAPSE_GRACE", raw)?;
    }
    Ok(domain_policy)
}

/// `LANYARD_EVENT_RETENTION`: at least one hour (default 90 days).
fn event_retention_ms(v: &Vars) -> Result<i64, ConfigError> {
    let Some(raw) = v.get("LANYARD_EVENT_RETENTION") else {
        return Ok(crate::server::events::DEFAULT_RETENTION_MS);
    };
    let ms = parse_duration_ms("LANYARD_EVENT_RETENTION", raw)?;
    if ms < 3600 * 1000 {
        return Err(ConfigError(format!(
            "LANYARD_EVENT_RETENTION is '{raw}'; keep events at least 1h (e.g. 90d)"
        )));
    }
    Ok(ms)
}

/// `LANYARD_TRUSTED_PROXIES`: the reverse proxies whose `X-Forwarded-For` is believed.
fn trusted_proxies(v: &Vars) -> Result<crate::server::forwarded::TrustedProxies, ConfigError> {
    let Some(raw) = v.get("LANYARD_TRUSTED_PROXIES") else {
        return Ok(Default::default());
    };
    crate::server::forwarded::TrustedProxies::parse(raw).map_err(|e| {
        ConfigError(format!(
            "LANYARD_TRUSTED_PROXIES: {e}; list the reverse proxies in front of Lanyard, comma-separated, e.g. 10.0.0.5,10.1.0.0/16"
        ))
    })
}

/// Parses `90s`, `30m`, `24h` or `3d` into milliseconds (at least one minute).
pub fn parse_duration_ms(var: &str, raw: &str) -> Result<i64, ConfigError> {
    let bad = || {
        ConfigError(format!(
            "{var} is '{raw}'; use a duration like 30m, 24h or 3d"
        ))
    };
    let (num, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: i64 = num.parse().map_err(|_| bad())?;
    let ms = match unit {
        "s" => n * 1000,
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        "d" => n * 86_400_000,
        _ => return Err(bad()),
    };
    if ms < 60_000 {
        return Err(ConfigError(format!("{var} must be at least 1m")));
    }
    Ok(ms)
}

/// `LANYARD_SAML_CLOCK_SKEW`: `0s` to `10m`.
fn parse_skew(raw: &str) -> Result<i64, ConfigError> {
    let bad = || {
        ConfigError(format!(
            "LANYARD_SAML_CLOCK_SKEW is '{raw}'; use seconds or minutes from 0s to 10m, like 90s or 2m"
        ))
    };
    let (num, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: i64 = num.parse().map_err(|_| bad())?;
    let ms = match unit {
        "s" => n * 1000,
        "m" => n * 60_000,
        _ => return Err(bad()),
    };
    if ms > 600_000 {
        return Err(bad());
    }
    Ok(ms)
}

fn parse_key(raw: &str) -> Result<[u8; 32], ConfigError> {
    let bytes = hex::decode(raw).map_err(|_| {
        ConfigError("LANYARD_SECRET_KEY must be 64 hex characters (openssl rand -hex 32)".into())
    })?;
    bytes.try_into().map_err(|_| {
        ConfigError("LANYARD_SECRET_KEY must be 64 hex characters (openssl rand -hex 32)".into())
    })
}

/// In development, a key is generated once into the data directory.
fn dev_key(data_dir: &std::path::Path) -> Result<[u8; 32], ConfigError> {
    let path = data_dir.join("secret.key");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return parse_key(existing.trim());
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| ConfigError(format!("cannot create {}: {e}", data_dir.display())))?;
    let key: [u8; 32] = rand::random();
    std::fs::write(&path, hex::encode(key))
        .map_err(|e| ConfigError(format!("cannot write {}: {e}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn unknown_lanyard_variables_are_named() {
        let err = Config::from_vars(&vars(&[
            ("LANYARD_LISTN", "x"),
            ("LANYARD_SECRET_KEY", &"a".repeat(64)),
        ]))
        .unwrap_err();
        assert!(err.0.contains("LANYARD_LISTN"), "{}", err.0);
    }

    #[test]
    fn secrets_come_from_files_and_not_from_both() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, format!("{}\n", "cd".repeat(32))).unwrap();
        let c = Config::from_vars(&vars(&[
            ("LANYARD_ENV", "production"),
            ("LANYARD_PUBLIC_URL", "https://x.example"),
            ("LANYARD_SECRET_KEY_FILE", key.to_str().unwrap()),
        ]))
        .unwrap();
        assert_eq!(c.secret_key, [0xcd; 32]);
        let err = Config::from_vars(&vars(&[
            ("LANYARD_SECRET_KEY", &"ab".repeat(32)),
            ("LANYARD_SECRET_KEY_FILE", key.to_str().unwrap()),
        ]))
        .unwrap_err();
        assert!(err.0.contains("both"), "{}", err.0);
        let err = Config::from_vars(&vars(&[("LANYARD_SECRET_KEY_FILE", "/nonexistent/key")]))
            .unwrap_err();
        assert!(err.0.contains("LANYARD_SECRET_KEY_FILE"), "{}", err.0);
        let err = Config::from_vars(&vars(&[
            ("LANYARD_SECRET_KEY", &"ab".repeat(32)),
            ("LANYARD_LOG_FORMAT", "xml"),
        ]))
        .unwrap_err();
        assert!(err.0.contains("LANYARD_LOG_FORMAT"), "{}", err.0);
    }

    #[test]
    fn production_requires_key_and_https() {
        let err = Config::from_vars(&vars(&[
            ("LANYARD_ENV", "production"),
            ("LANYARD_PUBLIC_URL", "https://x.example"),
        ]))
        .unwrap_err();
        assert!(err.0.contains("LANYARD_SECRET_KEY"));
        let err = Config::from_vars(&vars(&[
            ("LANYARD_ENV", "production"),
            ("LANYARD_SECRET_KEY", &"a".repeat(64)),
            ("LANYARD_PUBLIC_URL", "http://x.example"),
        ]))
        .unwrap_err();
        assert!(err.0.contains("https"));
    }

    #[test]
    fn dns_servers_and_durations() {
        let c = Config::from_vars(&vars(&[
            ("LANYARD_SECRET_KEY", &"ab".repeat(32)),
            ("LANYARD_DNS_SERVERS", "127.0.0.1:5353, 10.0.0.2"),
            ("LANYARD_DOMAIN_REPROOF_INTERVAL", "6h"),
            ("LANYARD_DOMAIN_LAPSE_GRACE", "2d"),
        ]))
        .unwrap();
        assert_eq!(c.dns_servers[0].to_string(), "127.0.0.1:5353");
        assert_eq!(c.dns_servers[1].to_string(), "10.0.0.2:53");
        assert_eq!(c.domain_policy.reproof_interval_ms, 6 * 3_600_000);
        assert_eq!(c.domain_policy.lapse_grace_ms, 2 * 86_400_000);
        let e = Config::from_vars(&vars(&[
            ("LANYARD_SECRET_KEY", &"ab".repeat(32)),
            ("LANYARD_DNS_SERVERS", "dns.example"),
        ]))
        .unwrap_err();
        assert!(e.0.contains("LANYARD_DNS_SERVERS"));
        assert!(parse_duration_ms("X", "10s").is_err());
        assert!(parse_duration_ms("X", "3 days").is_err());
    }

    #[test]
    fn trusted_proxies_are_validated_at_start() {
        let key = "ab".repeat(32);
        let c = Config::from_vars(&vars(&[("LANYARD_SECRET_KEY", &key)])).unwrap();
        assert!(c.trusted_proxies.is_empty(), "trusts none by default");
        let c = Config::from_vars(&vars(&[
            ("LANYARD_SECRET_KEY", &key),
            (
                "LANYARD_TRUSTED_PROXIES",
                "10.0.0.5, 172.16.0.0/12, loopback",
            ),
        ]))
        .unwrap();
        for a in ["10.0.0.5", "172.20.1.1", "127.0.0.1"] {
            assert!(c.trusted_proxies.trusts(a.parse().unwrap()), "{a}");
        }
        assert!(!c.trusted_proxies.trusts("10.0.0.6".parse().unwrap()));
        for bad in ["10.0.0.0/33", "proxy.internal", "10.0.0.5 10.0.0.6"] {
            let e = Config::from_vars(&vars(&[
                ("LANYARD_SECRET_KEY", &key),
                ("LANYARD_TRUSTED_PROXIES", bad),
            ]))
            .unwrap_err();
            assert!(
                e.0.contains("LANYARD_TRUSTED_PROXIES") && e.0.contains(bad),
                "{}",
                e.0
            );
        }
    }

    #[test]
    fn defaults_and_cookie_security() {
        let c = Config::from_vars(&vars(&[("LANYARD_SECRET_KEY", &"ab".repeat(32))])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:3000");
        assert!(!c.secure_cookies());
        assert!(c.database_url.starts_with("sqlite://"));
        let c = Config::from_vars(&vars(&[
            ("LANYARD_SECRET_KEY", &"ab".repeat(32)),
            ("LANYARD_PUBLIC_URL", "https://id.example.com/"),
        ]))
        .unwrap();
        assert!(c.secure_cookies());
        assert_eq!(c.public_origin(), "https://id.example.com");
    }
}
