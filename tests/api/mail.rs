//! Outgoing mail: through a real SMTP server (`tests/support/smtp_sink.mjs`, npm smtp-server,
//! read back parsed by mailparser) and to `.eml` files when no SMTP URL is set.

use lanyard::server::mail::{Mail, Mailer};
use serde_json::Value;
use std::process::Child;

const FROM_NAME: &str = "Lanyard";
const FROM_ADDR: &str = "no-reply@lanyard.test";

pub(crate) struct Sink {
    smtp_port: u16,
    http: String,
    child: Child,
}

impl Sink {
    pub(crate) fn start(envs: &[(&str, &str)]) -> Sink {
        let mut all = vec![("SMTP_PORT", "0".to_owned())];
        all.extend(envs.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let (child, ports) = crate::helpers::spawn_node("smtp_sink.mjs", &all);
        let (smtp, http) = ports.split_once(' ').expect("READY <smtp> <http>");
        Sink {
            smtp_port: smtp.parse().unwrap(),
            http: format!("http://127.0.0.1:{http}"),
            child,
        }
    }

    pub(crate) fn url(&self, query: &str) -> String {
        format!("smtp://127.0.0.1:{}{query}", self.smtp_port)
    }

    pub(crate) async fn messages(&self) -> Vec<Value> {
        let body = reqwest::get(format!("{}/messages", self.http))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str::<Value>(&body)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn invitation(subject: &str) -> Mail {
    Mail {
        to: "dana@acme.test".into(),
        subject: subject.into(),
        text: "Dana, you are invited to Acme.\nOpen https://lanyard.test/invite/abc to join.".into(),
        html: "<p>Dana, you are invited to <b>Acme</b>.</p><p><a href=\"https://lanyard.test/invite/abc\">Join</a></p>".into(),
    }
}

#[tokio::test]
async fn smtp_delivers_both_parts() {
    let sink = Sink::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mailer = Mailer::new(Some(&sink.url("")), dir.path()).unwrap();
    let mut mail = invitation("Join Acme on Lanyard — Zoë's invitation");
    mail.text.push_str("\nGrüße, Zoë");
    let sent = mailer.send(FROM_NAME, FROM_ADDR, &mail).await.unwrap();
    assert!(sent.starts_with("250 "), "{sent}");

    let got = sink.messages().await;
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0];
    assert_eq!(m["to"], serde_json::json!(["dana@acme.test"]));
    assert_eq!(m["envelopeFrom"], FROM_ADDR);
    // mailparser quotes the display name.
    assert_eq!(m["from"], format!("\"{FROM_NAME}\" <{FROM_ADDR}>"));
    assert_eq!(m["subject"], mail.subject.as_str());
    assert_eq!(m["text"].as_str().unwrap().trim_end(), mail.text);
    assert_eq!(m["html"].as_str().unwrap().trim_end(), mail.html);
    let raw = m["raw"].as_str().unwrap();
    assert!(raw.contains("multipart/alternative"), "{raw}");
    assert!(
        raw.contains("Message-ID: <") && raw.contains("@lanyard.test>"),
        "{raw}"
    );
    assert!(
        dir.path().read_dir().unwrap().next().is_none(),
        "no files in SMTP mode"
    );
}

#[tokio::test]
async fn smtp_authenticates_with_url_credentials() {
    let sink = Sink::start(&[]);
    let url = format!(
        "smtp://mailer%40lanyard.test:p%40ss@127.0.0.1:{}",
        sink.smtp_port
    );
    let mailer = Mailer::new(Some(&url), std::path::Path::new("/nonexistent")).unwrap();
    assert!(!format!("{mailer:?}").contains("p@ss"));
    mailer
        .send(FROM_NAME, FROM_ADDR, &invitation("Hi"))
        .await
        .unwrap();
    let got = sink.messages().await;
    assert_eq!(got[0]["user"], "mailer@lanyard.test");
}

#[tokio::test]
async fn smtp_temporary_failure_is_reported_then_retry_succeeds() {
    let sink = Sink::start(&[("SMTP_FAIL_FIRST", "1")]);
    let mailer = Mailer::new(Some(&sink.url("")), std::path::Path::new("/nonexistent")).unwrap();
    let mail = invitation("Join Acme");
    let err = mailer.send(FROM_NAME, FROM_ADDR, &mail).await.unwrap_err();
    assert!(err.contains("451"), "{err}");
    assert!(
        err.contains("Temporary failure"),
        "the server's own words: {err}"
    );
    assert!(sink.messages().await.is_empty());

    let sent = mailer.send(FROM_NAME, FROM_ADDR, &mail).await.unwrap();
    assert!(sent.starts_with("250 "), "{sent}");
    let got = sink.messages().await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["subject"], "Join Acme");
}

#[tokio::test]
async fn required_tls_never_falls_back_to_plain_text() {
    // The server does not offer STARTTLS.
    let plain = Sink::start(&[]);
    let mailer = Mailer::new(
        Some(&plain.url("?tls=required")),
        std::path::Path::new("/x"),
    )
    .unwrap();
    let err = mailer
        .send(FROM_NAME, FROM_ADDR, &invitation("Hi"))
        .await
        .unwrap_err();
    assert!(err.contains("127.0.0.1"), "{err}");
    assert!(plain.messages().await.is_empty());

    // It does, with a self-signed certificate.
    let tls = Sink::start(&[("SMTP_TLS", "1")]);
    let mailer = Mailer::new(Some(&tls.url("?tls=required")), std::path::Path::new("/x")).unwrap();
    let err = mailer
        .send(FROM_NAME, FROM_ADDR, &invitation("Hi"))
        .await
        .unwrap_err();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(tls.messages().await.is_empty());
}

#[tokio::test]
async fn without_smtp_url_mail_is_written_to_eml_files() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = Mailer::new(None, dir.path()).unwrap();
    let mail = invitation("Join Acme on Lanyard");
    let sent = mailer.send(FROM_NAME, FROM_ADDR, &mail).await.unwrap();
    let second = mailer
        .send(FROM_NAME, FROM_ADDR, &invitation("Second"))
        .await
        .unwrap();

    let mut files: Vec<_> = std::fs::read_dir(dir.path().join("mail"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.iter().all(|p| p.extension().unwrap() == "eml"));
    assert_eq!(sent, format!("written to {}", files[0].display()));
    assert_eq!(
        second,
        format!("written to {}", files[1].display()),
        "names sort in sending order"
    );

    let eml = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        eml.contains("\r\nSubject: Join Acme on Lanyard\r\n"),
        "{eml}"
    );
    assert!(eml.contains("To: dana@acme.test\r\n"), "{eml}");
    assert!(
        eml.contains("From: Lanyard <no-reply@lanyard.test>\r\n"),
        "{eml}"
    );
    assert!(eml.contains("Content-Type: multipart/alternative"), "{eml}");
    assert!(
        eml.contains("Content-Type: text/plain; charset=utf-8"),
        "{eml}"
    );
    assert!(
        eml.contains("Content-Type: text/html; charset=utf-8"),
        "{eml}"
    );
    assert!(
        eml.contains("Open https://lanyard.test/invite/abc to join."),
        "{eml}"
    );
    // The long HTML line is quoted-printable; its start is not.
    assert!(
        eml.contains("<p>Dana, you are invited to <b>Acme</b>.</p>"),
        "{eml}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "readable by its owner only: {mode:o}");
    }
}
