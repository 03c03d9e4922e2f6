//! Outgoing mail (invitations): an SMTP server named by `LANYARD_SMTP_URL`, or, when that is
//! unset, a folder of `.eml` files under the data directory that an operator (or a test) can read.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// How long connecting, and then each SMTP command, may take.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

const URL_EXAMPLE: &str = "smtp://user:password@smtp.example.com:587";

/// One message.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The recipient: `dana@acme.test` or `Dana Lee <dana@acme.test>`.
    pub to: String,
    pub subject: String,
    /// The text/plain alternative.
    pub text: String,
    /// The text/html alternative.
    pub html: String,
}

/// Where mail goes: an SMTP server (`LANYARD_SMTP_URL`) or, when unset, a folder of `.eml` files.
#[derive(Clone)]
pub enum Mailer {
    /// Shared: `AppState` clones are cheap.
    Smtp(std::sync::Arc<SmtpMailer>),
    Folder(PathBuf),
}

/// An SMTP relay, as configured by `LANYARD_SMTP_URL`.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    host: String,
    port: u16,
    tls: TlsMode,
    user: Option<String>,
}

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text (`?tls=none`, or a loopback host without `?tls=`).
    None,
    /// STARTTLS when the server offers it, plain text otherwise (`?tls=opportunistic`).
    Opportunistic,
    /// STARTTLS, or no mail at all (`smtp://` to any other host, or `?tls=required`).
    Starttls,
    /// TLS from the first byte (`smtps://`).
    Implicit,
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsMode::None => "no TLS",
            TlsMode::Opportunistic => "STARTTLS if offered",
            TlsMode::Starttls => "STARTTLS required",
            TlsMode::Implicit => "implicit TLS",
        })
    }
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mailer::Smtp(s) => f.debug_tuple("Smtp").field(s).finish(),
            Mailer::Folder(dir) => f.debug_tuple("Folder").field(dir).finish(),
        }
    }
}

/// Never shows the password.
impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Mailer {
    /// For logs and the admin UI: where mail goes, without credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mailer::Smtp(s) => write!(f, "SMTP {}:{} ({})", s.host, s.port, s.tls),
            Mailer::Folder(dir) => write!(f, "files in {}", dir.display()),
        }
    }
}

impl Mailer {
    /// `smtp_url` is `LANYARD_SMTP_URL`; `None` writes `.eml` files to `<data_dir>/mail`.
    ///
    /// The URL follows lettre's `AsyncSmtpTransport::from_url` conventions, except that a bare
    /// `smtp://` to anything but a loopback host requires STARTTLS (lettre would send plain text):
    ///
    /// | URL                                       | TLS                          | default port |
    /// |-------------------------------------------|------------------------------|--------------|
    /// | `smtp://user:pass@host[:port]`            | STARTTLS required            | 587          |
    /// | `smtp://host?tls=required`                | STARTTLS required            | 587          |
    /// | `smtps://user:pass@host[:port]`           | implicit TLS                 | 465          |
    /// | `smtp://host?tls=opportunistic`           | STARTTLS if offered          | 587          |
    /// | `smtp://host:25?tls=none`                 | none                         | 25           |
    /// | `smtp://127.0.0.1:2525` (loopback host)   | none                         | 25           |
    ///
    /// User name and password are percent-decoded (`%40` for `@`); lettre uses them with AUTH
    /// PLAIN or LOGIN. They are refused over a connection that may be plain text, unless the host
    /// is loopback. A path names the EHLO client (`smtp://host:587/mta.example.com`); otherwise
    /// it is this machine's host name. Certificates are checked against the webpki (Mozilla)
    /// roots. Connecting, and each SMTP command, times out after 20 s.
    pub fn new(smtp_url: Option<&str>, data_dir: &Path) -> Result<Mailer, String> {
        match smtp_url.map(str::trim).filter(|u| !u.is_empty()) {
            None => Ok(Mailer::Folder(data_dir.join("mail"))),
            Some(url) => SmtpMailer::from_url(url).map(|s| Mailer::Smtp(std::sync::Arc::new(s))),
        }
    }

    /// Sends `mail` from `from_name <from_addr>`. `Ok` describes what happened (`250 …` from the
    /// server, or `written to <path>`); `Err` carries the server's answer or the IO error, worded
    /// to be shown to an admin.
    pub async fn send(
        &self,
        from_name: &str,
        from_addr: &str,
        mail: &Mail,
    ) -> Result<String, String> {
        let message = build_message(from_name, from_addr, mail)?;
        match self {
            Mailer::Smtp(s) => s.send(message).await,
            Mailer::Folder(dir) => write_eml(dir, &message.formatted()).await,
        }
    }
}

fn url_error(problem: impl fmt::Display) -> String {
    format!("LANYARD_SMTP_URL {problem} (expected e.g. {URL_EXAMPLE}, smtps://user:password@smtp.example.com:465 or smtp://127.0.0.1:25)")
}

impl SmtpMailer {
    fn from_url(raw: &str) -> Result<SmtpMailer, String> {
        let url = url::Url::parse(raw).map_err(|e| url_error(format_args!("is not a URL: {e}")))?;
        // Without brackets around IPv6 literals: the name to connect to and to check TLS against.
        let (host, loopback) = match url.host() {
            // smtp: is not a "special" scheme, so the url crate leaves IPv4 hosts as names.
            Some(url::Host::Domain(d)) => match d.parse::<IpAddr>() {
                Ok(ip) => (ip.to_string(), ip.is_loopback()),
                Err(_) => (d.to_owned(), d.eq_ignore_ascii_case("localhost")),
            },
            Some(url::Host::Ipv4(ip)) => (ip.to_string(), IpAddr::V4(ip).is_loopback()),
            Some(url::Host::Ipv6(ip)) => (ip.to_string(), IpAddr::V6(ip).is_loopback()),
            None => return Err(url_error("has no host")),
        };
        let mut tls_param = None;
        for (k, v) in url.query_pairs() {
            match &*k {
                "tls" if tls_param.is_none() => tls_param = Some(v.into_owned()),
                _ => {
                    return Err(url_error(format_args!(
                        "has an unknown or repeated parameter {k:?} (only tls= is understood)"
                    )))
                }
            }
        }
        let tls = match (url.scheme(), tls_param.as_deref()) {
            ("smtps", None) => TlsMode::Implicit,
            ("smtps", Some(_)) => {
                return Err(url_error(
                    "mixes smtps:// with tls= (smtps:// is always TLS)",
                ))
            }
            ("smtp", None) if loopback => TlsMode::None,
            ("smtp", None | Some("required")) => TlsMode::Starttls,
            ("smtp", Some("opportunistic")) => TlsMode::Opportunistic,
            ("smtp", Some("none")) => TlsMode::None,
            ("smtp", Some(other)) => {
                return Err(url_error(format_args!(
                    "has tls={other}; use tls=required, tls=opportunistic or tls=none"
                )))
            }
            (scheme, _) => {
                return Err(url_error(format_args!(
                    "has scheme {scheme}://; use smtp:// or smtps://"
                )))
            }
        };
        let port = url.port().unwrap_or(match tls {
            TlsMode::Implicit => 465,
            TlsMode::Starttls | TlsMode::Opportunistic => 587,
            TlsMode::None => 25,
        });
        let decode = |s: &str, what: &str| {
            percent_decode(s).ok_or_else(|| {
                url_error(format_args!(
                    "has an unreadable {what} (percent-encode it as UTF-8)"
                ))
            })
        };
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            (_, None) => {
                return Err(url_error(
                    "has a user name but no password (smtp://user:password@host)",
                ))
            }
            (user, Some(pass)) => Some((decode(user, "user name")?, decode(pass, "password")?)),
        };
        if credentials.is_some()
            && !loopback
            && matches!(tls, TlsMode::None | TlsMode::Opportunistic)
        {
            return Err(url_error(format_args!(
                "would send the password to {host} over a connection that may not be encrypted ({tls}); use tls=required or smtps://"
            )));
        }

        let tls_parameters = || {
            TlsParameters::new(host.clone())
                .map_err(|e| url_error(format_args!("cannot set up TLS for {host}: {e}")))
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(port)
            .timeout(Some(SMTP_TIMEOUT));
        builder = match tls {
            TlsMode::None => builder,
            TlsMode::Opportunistic => builder.tls(Tls::Opportunistic(tls_parameters()?)),
            TlsMode::Starttls => builder.tls(Tls::Required(tls_parameters()?)),
            TlsMode::Implicit => builder.tls(Tls::Wrapper(tls_parameters()?)),
        };
        let hello = url.path().trim_matches('/');
        if !hello.is_empty() {
            builder = builder.hello_name(ClientId::Domain(hello.to_owned()));
        }
        let user = credentials.as_ref().map(|(u, _)| u.clone());
        if let Some((u, p)) = credentials {
            builder = builder.credentials(Credentials::new(u, p));
        }
        Ok(SmtpMailer {
            transport: builder.build(),
            host,
            port,
            tls,
            user,
        })
    }

    async fn send(&self, message: Message) -> Result<String, String> {
        match self.transport.send(message).await {
            Ok(response) => {
                let text: Vec<&str> = response.message().collect();
                Ok(format!("{} {}", response.code(), text.join(" "))
                    .trim_end()
                    .to_owned())
            }
            Err(e) => {
                let hint = if e.is_transient() {
                    " (temporary)"
                } else if e.is_timeout() {
                    " (no answer within 20 s)"
                } else {
                    ""
                };
                Err(format!(
                    "mail server {}:{} ({}): {e}{hint}",
                    self.host, self.port, self.tls
                ))
            }
        }
    }
}

fn build_message(from_name: &str, from_addr: &str, mail: &Mail) -> Result<Message, String> {
    let from_addr: Address = from_addr
        .trim()
        .parse()
        .map_err(|e| format!("invalid sender address {from_addr:?}: {e}"))?;
    let from_name = one_line(from_name);
    let from = Mailbox::new(
        (!from_name.is_empty()).then_some(from_name),
        from_addr.clone(),
    );
    let to: Mailbox = mail
        .to
        .trim()
        .parse()
        .map_err(|e| format!("invalid recipient address {:?}: {e}", mail.to))?;
    let id = format!(
        "<{}.{}@{}>",
        ulid::Ulid::new(),
        random_hex(4),
        from_addr.domain()
    );
    Message::builder()
        .from(from)
        .to(to)
        .subject(one_line(&mail.subject))
        .message_id(Some(id))
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|e| format!("cannot build the message: {e}"))
}

/// `%XX` escapes as in URL user info; `None` for a malformed escape or invalid UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// Header values stay on one line whatever the caller passes.
fn one_line(s: &str) -> String {
    s.split(['\r', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Writes `<dir>/<UTC timestamp>-<random>.eml`; names sort in the order mail was sent.
async fn write_eml(dir: &Path, bytes: &[u8]) -> Result<String, String> {
    let fail = |what: &str, path: &Path, e: std::io::Error| {
        format!("cannot {what} {}: {e}", path.display())
    };
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| fail("create", dir, e))?;
    let stamp = crate::server::timefmt::file_stamp(time::OffsetDateTime::now_utc())
        .map_err(|e| format!("cannot format the time: {e}"))?;
    let path = dir.join(format!("{stamp}-{}.eml", random_hex(4)));
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600); // invitation links are secrets
    let mut file = options
        .open(&path)
        .await
        .map_err(|e| fail("create", &path, e))?;
    use tokio::io::AsyncWriteExt;
    file.write_all(bytes)
        .await
        .map_err(|e| fail("write", &path, e))?;
    file.flush().await.map_err(|e| fail("write", &path, e))?;
    Ok(format!("written to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smtp(url: &str) -> Result<std::sync::Arc<SmtpMailer>, String> {
        match Mailer::new(Some(url), Path::new("/tmp"))? {
            Mailer::Smtp(s) => Ok(s),
            Mailer::Folder(_) => unreachable!(),
        }
    }

    #[test]
    fn schemes_map_to_tls_modes_and_ports() {
        let s = smtp("smtp://user:pa%40ss@smtp.example.com").unwrap();
        assert_eq!((s.tls, s.port), (TlsMode::Starttls, 587));
        assert_eq!(s.user.as_deref(), Some("user"));
        let s = smtp("smtps://u:p@smtp.example.com").unwrap();
        assert_eq!((s.tls, s.port), (TlsMode::Implicit, 465));
        let s = smtp("smtp://smtp.example.com:2587?tls=required").unwrap();
        assert_eq!((s.tls, s.port), (TlsMode::Starttls, 2587));
        let s = smtp("smtp://relay.internal?tls=none").unwrap();
        assert_eq!((s.tls, s.port), (TlsMode::None, 25));
        let s = smtp("smtp://relay.internal?tls=opportunistic").unwrap();
        assert_eq!((s.tls, s.port), (TlsMode::Opportunistic, 587));
        let s = smtp("smtp://127.0.0.1:2525").unwrap();
        assert_eq!((s.tls, s.port), (TlsMode::None, 2525));
        let s = smtp("smtp://[::1]:2525").unwrap();
        assert_eq!((s.host.as_str(), s.tls), ("::1", TlsMode::None));
        let s = smtp("smtp://localhost?tls=required").unwrap();
        assert_eq!(s.tls, TlsMode::Starttls);
        assert!(
            matches!(Mailer::new(None, Path::new("/d")).unwrap(), Mailer::Folder(p) if p == Path::new("/d/mail"))
        );
        assert!(matches!(
            Mailer::new(Some("  "), Path::new("/d")).unwrap(),
            Mailer::Folder(_)
        ));
    }

    #[test]
    fn bad_urls_name_the_variable() {
        for bad in [
            "smtp.example.com:587",
            "http://smtp.example.com",
            "smtp://smtp.example.com?tls=yes",
            "smtp://smtp.example.com?tsl=none",
            "smtps://smtp.example.com?tls=none",
            "smtp://user@smtp.example.com",
            "smtp://user:secret@smtp.example.com?tls=none",
            "smtp://user:secret@smtp.example.com?tls=opportunistic",
        ] {
            let e = smtp(bad).unwrap_err();
            assert!(e.starts_with("LANYARD_SMTP_URL "), "{bad}: {e}");
            assert!(e.contains(URL_EXAMPLE), "{bad}: {e}");
            assert!(!e.contains("secret"), "{bad}: {e}");
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let m = Mailer::new(
            Some("smtps://alice:hunter2@smtp.example.com"),
            Path::new("/d"),
        )
        .unwrap();
        let shown = format!("{m:?} {m}");
        assert!(
            shown.contains("smtp.example.com") && shown.contains("alice"),
            "{shown}"
        );
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn headers_stay_on_one_line() {
        let mail = Mail {
            to: "Dana Lee <dana@acme.test>".into(),
            subject: "Hi\r\nBcc: evil@x.test".into(),
            text: "t".into(),
            html: "<p>h</p>".into(),
        };
        let raw = String::from_utf8(
            build_message("Lanyard\nX: y", "no-reply@lanyard.test", &mail)
                .unwrap()
                .formatted(),
        )
        .unwrap();
        assert!(
            !raw.contains("\r\nBcc:") && !raw.contains("\r\nX:"),
            "{raw}"
        );
        assert!(raw.contains("@lanyard.test>"), "{raw}");
        assert!(build_message("L", "not an address", &mail)
            .unwrap_err()
            .contains("sender"));
        let bad = Mail {
            to: "nobody".into(),
            ..mail
        };
        assert!(build_message("L", "no-reply@lanyard.test", &bad)
            .unwrap_err()
            .contains("recipient"));
    }
}

/// Who a queued mail is about, for the outbox row.
#[derive(Debug, Clone, Copy, Default)]
pub struct MailFor<'a> {
    pub organization_id: Option<&'a str>,
    pub invitation_id: Option<&'a str>,
}

/// Queues a mail in the outbox inside the caller's transaction (it is sent once that commits);
/// the body is sealed with the server key, bound to the row. Answers the mail's id.
pub async fn queue(
    tx: &mut super::audit::AuditedTx,
    secrets: &super::crypto::SecretBox,
    about: MailFor<'_>,
    recipient: &str,
    subject: String,
    text: &str,
    html: &str,
) -> Result<String, sqlx::Error> {
    let now = tx.now();
    let id = super::db::new_id(crate::domain::ids::IdKind::Mail);
    let body = serde_json::json!({ "text": text, "html": html }).to_string();
    super::db::mail::insert_mail(
        tx.conn(),
        &super::db::mail::MailRow {
            id: id.clone(),
            organization_id: about.organization_id.map(str::to_owned),
            invitation_id: about.invitation_id.map(str::to_owned),
            recipient: recipient.to_owned(),
            subject,
            body_enc: secrets.seal(&body, &format!("mail_outbox:{id}")),
            attempts: 0,
            next_attempt_at: now,
            sent_at: None,
            failed_at: None,
            last_error: None,
            created_at: now,
        },
    )
    .await?;
    Ok(id)
}
