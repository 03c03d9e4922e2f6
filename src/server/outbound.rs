//! Outbound HTTP (OIDC discovery, JWKS, token calls; later metadata, webhooks): no redirects,
//! timeouts, a response size limit, and loopback/private/link-local destinations refused unless
//! `LANYARD_ALLOW_PRIVATE_NETWORK` is on. The check runs on every address a name resolves to, at
//! connect time, so DNS rebinding cannot slip past it.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Largest response body accepted.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Why an outbound call failed; worded for an admin.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Failed(String),
}

/// True for addresses Lanyard must not call on behalf of a tenant by default.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let s = v6.segments();
            let embedded = |hi: u16, lo: u16| {
                let [a, b] = hi.to_be_bytes();
                let [c, d] = lo.to_be_bytes();
                std::net::Ipv4Addr::new(a, b, c, d)
            };
            // IPv4 inside IPv6: the deprecated compatible form `::a.b.c.d`, NAT64's
            // `64:ff9b::a.b.c.d` and 6to4's `2002:aabb:ccdd::` reach the IPv4 address.
            if s[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified() {
                return is_private(IpAddr::V4(embedded(s[6], s[7])));
            }
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return is_private(IpAddr::V4(embedded(s[6], s[7])));
            }
            if s[0] == 0x2002 && is_private(IpAddr::V4(embedded(s[1], s[2]))) {
                return true;
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                // Site-local (deprecated, still routed on some networks).
                || (s[0] & 0xffc0) == 0xfec0
        }
    }
}

#[derive(Clone)]
struct GuardedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow || !is_private(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!(
                    "{host} resolves only to private or loopback addresses, which Lanyard does not call"
                )
                .into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The guarded client.
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    allow_private: bool,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Outbound(allow_private={})", self.allow_private)
    }
}

impl Outbound {
    /// Builds the client.
    pub fn new(allow_private: bool) -> Result<Outbound, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .user_agent("Lanyard")
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Outbound {
            client,
            allow_private,
        })
    }

    /// Checks a URL before any call: https (http only when private networks are allowed), and an
    /// IP-literal host that is not private.
    pub fn check_url(&self, raw: &str) -> Result<url::Url, OutboundError> {
        let url = url::Url::parse(raw)
            .map_err(|_| OutboundError::Refused(format!("{raw} is not a valid URL")))?;
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => {
                Some(IpAddr::from([127, 0, 0, 1]))
            }
            Some(url::Host::Domain(_)) => None,
            None => return Err(OutboundError::Refused(format!("{raw} has no host"))),
        };
        if let Some(ip) = literal {
            if !self.allow_private && is_private(ip) {
                return Err(OutboundError::Refused(format!(
                    "{raw} points to a private or loopback address, which Lanyard does not call"
                )));
            }
        }
        match url.scheme() {
            "https" => Ok(url),
            "http" if self.allow_private => Ok(url),
            _ => Err(OutboundError::Refused(format!("{raw} must use https"))),
        }
    }

    /// GETs a document (IdP metadata) and returns its text; non-2xx is a failure.
    pub async fn get_text(&self, url: &str) -> Result<String, OutboundError> {
        let req = http::Request::get(url)
            .body(Vec::new())
            .map_err(|_| OutboundError::Refused(format!("{url} is not a valid URL")))?;
        let resp = self.execute(req).await?;
        if !resp.status().is_success() {
            return Err(OutboundError::Failed(format!(
                "{url} answered HTTP {}",
                resp.status().as_u16()
            )));
        }
        String::from_utf8(resp.into_body())
            .map_err(|_| OutboundError::Failed(format!("{url} did not answer UTF-8 text")))
    }

    /// Sends a request built elsewhere (openidconnect's requests).
    pub async fn execute(
        &self,
        req: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, OutboundError> {
        let url = self.check_url(&req.uri().to_string())?;
        let (mut parts, body) = req.into_parts();
        // The caller's trace continues at the IdP or receiver (W3C traceparent).
        crate::server::telemetry::inject(&mut parts.headers);
        let mut builder = self.client.request(parts.method, url.clone());
        for (k, v) in parts.headers.iter() {
            builder = builder.header(k, v);
        }
        let mut resp = builder
            .body(body)
            .send()
            .await
            .map_err(|e| OutboundError::Failed(describe(&url, &e)))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let mut buf = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| OutboundError::Failed(describe(&url, &e)))?
        {
            if buf.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(OutboundError::Failed(format!(
                    "{url} answered with more than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            buf.extend_from_slice(&chunk);
        }
        let mut out = http::Response::new(buf);
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

/// A URL fit to show in logs, errors and pages: scheme, host, port and path only — credentials
/// in the user-info or the query string (some receivers take their token there) are dropped.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => {
            let cut = raw.split(['?', '#']).next().unwrap_or_default();
            match cut.split_once('@') {
                Some((_, rest)) => rest.to_owned(),
                None => cut.to_owned(),
            }
        }
    }
}

fn describe(url: &url::Url, e: &reqwest::Error) -> String {
    let raw = url.as_str();
    let url = redact_url(raw);
    let mut src: Option<&dyn std::error::Error> = Some(e);
    let mut deepest = e.to_string();
    while let Some(s) = src {
        deepest = s.to_string();
        src = s.source();
    }
    let deepest = deepest.replace(raw, &url);
    if e.is_timeout() {
        format!("{url} did not answer in time")
    } else {
        format!("could not reach {url}: {deepest}")
    }
}

impl<'c> openidconnect::AsyncHttpClient<'c> for Outbound {
    type Error = OutboundError;
    type Future = Pin<
        Box<dyn Future<Output = Result<openidconnect::HttpResponse, OutboundError>> + Send + 'c>,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(self.execute(request))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacted_urls_keep_no_credentials() {
        assert_eq!(
            super::redact_url("https://user:pw@logs.acme.test:8443/in?token=abc#x"),
            "https://logs.acme.test:8443/in"
        );
        assert_eq!(super::redact_url("not a url?token=abc"), "not a url");
    }

    use super::*;

    #[test]
    fn private_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "fec0::1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700::1111",
            "64:ff9b::808:808",
            "2002:808:808::",
        ] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_are_checked_before_any_call() {
        let o = Outbound::new(false).unwrap();
        assert!(o
            .check_url("https://idp.example.com/.well-known/openid-configuration")
            .is_ok());
        for bad in [
            "http://idp.example.com",
            "https://127.0.0.1/x",
            "https://localhost/x",
            "https://[::1]/",
            "https://169.254.169.254/latest/meta-data",
            "ftp://x.example",
        ] {
            assert!(o.check_url(bad).is_err(), "{bad}");
        }
        let open = Outbound::new(true).unwrap();
        assert!(open.check_url("http://127.0.0.1:8080/").is_ok());
    }
}
