//! The SCIM request log: redaction of bodies and paths, and the batching writer.

use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::domain::ids::IdKind;
use crate::server::db;
use crate::server::db::scim_log::ScimRequestRow;
use crate::server::state::AppState;

/// Longest body kept in the request log.
const LOG_BODY_MAX: usize = 16 * 1024;
/// Largest body the log parses to redact field by field.
const LOG_PARSE_MAX: usize = 256 * 1024;

/// Removes secrets from a logged body: `password` anywhere (case-insensitive), cut to a bound.
pub fn redact(body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    fn scrub(v: &mut Value) {
        match v {
            // A PATCH operation on the password: {"op": "replace", "path": "password", "value": …}
            Value::Object(o)
                if o.iter().any(|(k, p)| {
                    k.eq_ignore_ascii_case("path")
                        && p.as_str()
                            .is_some_and(|p| p.to_ascii_lowercase().contains("password"))
                }) =>
            {
                for (k, x) in o.iter_mut() {
                    if k.eq_ignore_ascii_case("value") {
                        *x = Value::String("[redacted]".into());
                    }
                }
            }
            Value::Object(o) => {
                for (k, x) in o.iter_mut() {
                    if k.eq_ignore_ascii_case("password") {
                        *x = Value::String("[redacted]".into());
                    } else {
                        scrub(x);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(scrub),
            Value::String(t) if looks_secret(t) => *t = "[redacted]".into(),
            _ => {}
        }
    }
    // A large body (a group push) is not parsed a second time just for the log: its start is
    // kept when nothing in it mentions a password or looks like a secret, else only its size.
    if body.len() > LOG_PARSE_MAX {
        let all = String::from_utf8_lossy(body);
        if all.to_ascii_lowercase().contains("password") || looks_secret(&all) {
            return Some(format!(
                "[{} bytes; withheld because it mentions a password or a secret]",
                body.len()
            ));
        }
        let mut cut = LOG_BODY_MAX;
        while !all.is_char_boundary(cut) {
            cut -= 1;
        }
        return Some(format!("{}… [{} bytes in all]", &all[..cut], body.len()));
    }
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => {
            scrub(&mut v);
            let text = v.to_string();
            // Whatever the field-by-field pass missed (a secret used as a key, say).
            if looks_secret(&text) {
                return Some(format!(
                    "[{} bytes; withheld because it carries something shaped like a secret]",
                    body.len()
                ));
            }
            text
        }
        // Not JSON: keep a bounded, lossy excerpt (it cannot carry a parsed secret field, but
        // might carry one as text, so only its size is kept when it mentions a password).
        Err(_) => {
            let s = String::from_utf8_lossy(body);
            if s.to_ascii_lowercase().contains("password") || looks_secret(&s) {
                format!(
                    "[{} bytes, not JSON; withheld because it mentions a password or a secret]",
                    body.len()
                )
            } else {
                s.into_owned()
            }
        }
    };
    Some(if text.len() > LOG_BODY_MAX {
        let mut cut = LOG_BODY_MAX;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}… [{} bytes in all]", &text[..cut], text.len())
    } else {
        text
    })
}

/// Whether a logged string is, or carries, a secret by its shape: one of Lanyard's prefixed
/// secrets (`lanyard_scim_…`, `lanyard_sk_…`, …) or a webhook signing secret.
fn looks_secret(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.contains("lanyard_") || l.contains("whsec_")
}

/// Query parameters whose value is a credential by name (some clients send their bearer token
/// as `?access_token=…`).
fn secret_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace(['-', '.'], "_");
    [
        "token",
        "secret",
        "password",
        "passwd",
        "apikey",
        "api_key",
        "key",
        "auth",
        "authorization",
        "bearer",
        "code",
        "sig",
        "signature",
        "credential",
    ]
    .iter()
    .any(|w| {
        n == *w || n.ends_with(&format!("_{w}")) || n.contains("token") || n.contains("secret")
    })
}

/// A request path fit to store and show: query parameters named like credentials, and any
/// path segment or parameter carrying a secret-shaped value, become `[redacted]`.
pub fn redact_path(path_and_query: &str) -> String {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let path = path
        .split('/')
        .map(|seg| {
            if looks_secret(&decode(seg)) {
                "[redacted]"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    let Some(query) = query else {
        return path;
    };
    let query = query
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if secret_param(&decode(k)) || looks_secret(&decode(v)) || looks_secret(&decode(k)) {
                format!("{k}=[redacted]")
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&");
    format!("{path}?{query}")
}

/// One exchange to log.
pub struct Exchange<'a> {
    pub directory_id: &'a str,
    pub organization_id: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub scim_type: Option<&'a str>,
    pub request_body: &'a [u8],
    pub response_body: &'a [u8],
    pub duration_ms: i64,
}

/// The SCIM request log writer. A request hands its row over and is answered without waiting
/// for it: rows are written in the background, many to one statement and one commit, so the
/// log takes no turn of SQLite's single writer on any request's path. Readers of the log on
/// this node call [`LogSink::flush`] first and so see every exchange answered before they
/// read; another node sees it once written, milliseconds later. Rows still queued when the
/// process dies are lost: the log is a diagnostic record, while the changes themselves and
/// their audit events commit before the answer.
#[derive(Clone, Debug)]
pub struct LogSink {
    tx: tokio::sync::mpsc::Sender<LogMsg>,
    /// Rows handed over and not yet written (or failed to be): at zero, [`LogSink::flush`] has
    /// nothing to wait for and does not queue behind the writer.
    pending: Arc<AtomicUsize>,
}

#[derive(Debug)]
enum LogMsg {
    Row(Box<ScimRequestRow>),
    /// Answered once every row queued before it is written (or failed to be).
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Most rows written in one transaction.
const LOG_BATCH: usize = 256;
/// Most rows waiting to be written; a request finding the queue full waits for room (rows are
/// bounded in size, so this bounds the memory the queue takes).
const LOG_QUEUE: usize = 1024;

impl LogSink {
    /// Starts the writer task (inside the Tokio runtime).
    pub fn start(db: db::Db) -> LogSink {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<LogMsg>(LOG_QUEUE);
        let pending = Arc::new(AtomicUsize::new(0));
        let written = pending.clone();
        tokio::spawn(async move {
            // PostgreSQL: the writer's connection, kept between its batches (`db::Kept`) and
            // given back to the pool after a second without rows.
            let kept = db::Kept::default();
            loop {
                let Some(first) = kept.idle_wait(rx.recv()).await else {
                    break;
                };
                let mut rows = Vec::new();
                let mut waiting = Vec::new();
                let mut next = Some(first);
                while let Some(msg) = next {
                    match msg {
                        LogMsg::Row(row) => rows.push(*row),
                        LogMsg::Flush(done) => waiting.push(done),
                    }
                    next = if rows.len() < LOG_BATCH {
                        rx.try_recv().ok()
                    } else {
                        None
                    };
                }
                if !rows.is_empty() {
                    if let Err(err) = write_batch(&db, &kept, &rows).await {
                        tracing::error!(error = %err, rows = rows.len(), "could not write the SCIM request log");
                    }
                    written.fetch_sub(rows.len(), Ordering::AcqRel);
                }
                for done in waiting {
                    let _ = done.send(());
                }
            }
        });
        LogSink { tx, pending }
    }

    /// Queues a row; waits only while the queue is full.
    async fn write(&self, row: ScimRequestRow) {
        // Room first, then counted and sent with nothing to await between: a request dropped
        // while it waits for room leaves the count as it was.
        let Ok(permit) = self.tx.reserve().await else {
            tracing::error!("the SCIM request log writer has stopped; an exchange is not logged");
            return;
        };
        self.pending.fetch_add(1, Ordering::AcqRel);
        permit.send(LogMsg::Row(Box::new(row)));
    }

    /// Waits until every row queued before this call is written.
    pub async fn flush(&self) {
        if self.pending.load(Ordering::Acquire) == 0 {
            return;
        }
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.tx.send(LogMsg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

/// On SQLite a write on the writer connection that joins the open batch (its page cache stays
/// warm, and the batch is not committed early to free the database for a pooled connection); on
/// PostgreSQL a transaction on the log writer's kept connection.
async fn write_batch(
    db: &db::Db,
    kept: &db::Kept,
    rows: &[ScimRequestRow],
) -> Result<(), sqlx::Error> {
    let mut tx = db.write_kept("BEGIN", kept).await?;
    db::scim_log::insert_requests(tx.conn(), rows).await?;
    tx.commit().await
}

/// Records one SCIM exchange in the directory's log. A failure to log is reported, never
/// turned into a failed SCIM request.
pub async fn log_exchange(state: &AppState, e: Exchange<'_>) {
    let row = ScimRequestRow {
        id: db::new_id(IdKind::ScimRequest),
        directory_id: e.directory_id.into(),
        organization_id: e.organization_id.into(),
        method: e.method.into(),
        path: redact_path(e.path).chars().take(2000).collect(),
        status: i64::from(e.status),
        scim_type: e.scim_type.map(str::to_owned),
        request_body: redact(e.request_body),
        response_body: redact(e.response_body),
        duration_ms: e.duration_ms,
        created_at: state.clock.now(),
    };
    state.scim_log.write(row).await;
}

/// The organization of a live directory, to attribute failed authentications in its log.
pub async fn directory_owner(state: &AppState, directory_id: &str) -> Option<String> {
    let directory_id = crate::domain::ids::DirectoryId::parse(directory_id)?;
    let mut conn = state.db.pool.acquire().await.ok()?;
    db::directories::directory_owner(&mut conn, &directory_id)
        .await
        .ok()
        .flatten()
        .map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_paths_lose_tokens_in_queries_and_segments() {
        let cases = [
            (
                "/scim/v2/dir_1/Users?access_token=abc123",
                "/scim/v2/dir_1/Users?access_token=[redacted]",
            ),
            (
                "/scim/v2/dir_1/Users?startIndex=1&token=x&count=5",
                "/scim/v2/dir_1/Users?startIndex=1&token=[redacted]&count=5",
            ),
            (
                "/scim/v2/dir_1/Users?x=lanyard_scim_abcdef",
                "/scim/v2/dir_1/Users?x=[redacted]",
            ),
            (
                "/scim/v2/dir_1/Users?filter=userName%20eq%20%22lanyard_scim_zz%22",
                "/scim/v2/dir_1/Users?filter=[redacted]",
            ),
            (
                "/scim/v2/dir_1/Users/lanyard_scim_abc",
                "/scim/v2/dir_1/Users/[redacted]",
            ),
            (
                "/scim/v2/dir_1/Users?API-Key=1&Client_Secret=2",
                "/scim/v2/dir_1/Users?API-Key=[redacted]&Client_Secret=[redacted]",
            ),
            (
                "/scim/v2/dir_1/Users?filter=userName%20eq%20%22a%40b.c%22&count=2",
                "/scim/v2/dir_1/Users?filter=userName%20eq%20%22a%40b.c%22&count=2",
            ),
            ("/scim/v2/dir_1/Groups", "/scim/v2/dir_1/Groups"),
        ];
        for (raw, want) in cases {
            assert_eq!(redact_path(raw), want, "{raw}");
        }
    }

    #[test]
    fn secrets_outside_parsed_values_withhold_the_body() {
        for body in [
            "token=lanyard_sk_abc&x=1".to_owned(),
            r#"{"userName":"a"} lanyard_scim_abc"#.to_owned(),
            r#"{"lanyard_sk_abc":1}"#.to_owned(),
            format!("{}\"whsec_abc\"{}", "[".repeat(200), "]".repeat(200)),
        ] {
            let r = redact(body.as_bytes()).unwrap();
            assert!(
                r.contains("withheld") && !r.contains("_abc"),
                "{body} → {r}"
            );
        }
    }

    #[test]
    fn bodies_lose_secret_shaped_strings() {
        let r =
            redact(br#"{"userName":"a","x":{"note":"lanyard_scim_abc"},"w":["whsec_q"]}"#).unwrap();
        assert!(
            !r.contains("lanyard_scim_abc") && !r.contains("whsec_q"),
            "{r}"
        );
        assert!(r.contains("\"userName\":\"a\""), "{r}");
    }

    #[test]
    fn redaction_removes_passwords_at_any_depth_and_bounds_size() {
        let r = redact(br#"{"userName":"a","password":"hunter2","x":[{"Password":"p"}]}"#).unwrap();
        let patch =
            redact(br#"{"Operations":[{"op":"replace","path":"password","value":"s3cret"}]}"#)
                .unwrap();
        assert!(!patch.contains("s3cret"), "{patch}");
        assert!(!r.contains("hunter2") && !r.contains("\"p\""), "{r}");
        assert!(r.contains("[redacted]"));
        let r = redact(b"password=hunter2").unwrap();
        assert!(!r.contains("hunter2"));
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(40_000));
        assert!(redact(big.as_bytes()).unwrap().len() < LOG_BODY_MAX + 100);
        // Past the parse bound: kept as an excerpt, or withheld when anything looks secret.
        let huge = format!("{{\"members\":[{}]}}", "{\"value\":\"u1\"},".repeat(30_000));
        let r = redact(huge.as_bytes()).unwrap();
        assert!(
            r.starts_with("{\"members\"") && r.len() < LOG_BODY_MAX + 100,
            "{}",
            &r[..80]
        );
        for bad in ["Password", "lanyard_scim_x", "whsec_y"] {
            let huge = format!(
                "{{\"members\":[{}],\"x\":\"{bad}\"}}",
                "{\"value\":\"u1\"},".repeat(30_000)
            );
            let r = redact(huge.as_bytes()).unwrap();
            assert!(r.contains("withheld") && !r.contains(bad), "{r}");
        }
        assert_eq!(redact(b""), None);
    }
}
