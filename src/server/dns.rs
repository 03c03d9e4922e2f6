//! TXT lookups for domain verification through hickory-resolver, against the system resolver or
//! the servers in `LANYARD_DNS_SERVERS`. Nothing is cached: a record the admin just published
//! must be seen on the next check.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;

/// What a TXT lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxtAnswer {
    /// TXT values at the name (each record's strings joined, per RFC 7208 §3.3 practice).
    Values(Vec<String>),
    /// The name does not exist or has no TXT records.
    NoRecords,
    /// No conclusion: timeout, SERVFAIL, refused, network error.
    Failed(String),
}

/// A resolver for verification lookups.
#[derive(Clone)]
pub struct DnsChecker {
    resolver: TokioResolver,
}

impl std::fmt::Debug for DnsChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DnsChecker")
    }
}

impl DnsChecker {
    /// Uses `servers` when given, else the system configuration (`/etc/resolv.conf`).
    pub fn new(servers: &[SocketAddr]) -> Result<DnsChecker, String> {
        let mut opts = ResolverOpts::default();
        opts.timeout = Duration::from_secs(2);
        opts.attempts = 1;
        opts.cache_size = 0;
        opts.positive_max_ttl = Some(Duration::ZERO);
        opts.negative_max_ttl = Some(Duration::ZERO);
        let builder = if servers.is_empty() {
            TokioResolver::builder_tokio().map_err(|e| format!("system DNS configuration: {e}"))?
        } else {
            let name_servers = servers
                .iter()
                .map(|addr| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = addr.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = addr.port();
                    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(name_servers),
                TokioRuntimeProvider::default(),
            )
        };
        let resolver = builder
            .with_options(opts)
            .build()
            .map_err(|e| format!("DNS resolver: {e}"))?;
        Ok(DnsChecker { resolver })
    }

    /// Looks up the TXT records at `name` (CNAMEs are followed by the resolver).
    pub async fn txt(&self, name: &str) -> TxtAnswer {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self.resolver.lookup(fqdn.as_str(), RecordType::TXT).await {
            Ok(lookup) => {
                let values: Vec<String> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::TXT(txt) => Some(
                            txt.txt_data
                                .iter()
                                .map(|s| String::from_utf8_lossy(s).into_owned())
                                .collect::<String>(),
                        ),
                        _ => None,
                    })
                    .collect();
                if values.is_empty() {
                    TxtAnswer::NoRecords
                } else {
                    TxtAnswer::Values(values)
                }
            }
            Err(NetError::Dns(DnsError::NoRecordsFound(_))) => TxtAnswer::NoRecords,
            Err(NetError::Timeout) => {
                TxtAnswer::Failed("the DNS server did not answer in time".into())
            }
            Err(NetError::Dns(DnsError::ResponseCode(code))) => TxtAnswer::Failed(format!(
                "the DNS server answered {code} (a temporary failure on the DNS side)"
            )),
            Err(e) => TxtAnswer::Failed(format!("DNS lookup failed: {e}")),
        }
    }
}
