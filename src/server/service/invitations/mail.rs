//! Mail delivery: the invitation mail, queued in the caller's transaction, and the worker that sends what is due.

use crate::server::audit::AuditedTx;
use crate::server::clock::rfc3339;
use crate::server::crypto::{hash_secret, new_secret, INVITE_TOKEN_PREFIX};
use crate::server::db::{self, invitations::InvitationRow};
use crate::server::error::AppError;
use crate::server::mail::Mail;
use crate::server::state::AppState;

use super::{accept_url, view, Invitation, MAX_MAIL_ATTEMPTS};

/// Queues the invitation mail in the caller's transaction (the body is sealed: it carries the link).
async fn queue_mail(
    state: &AppState,
    tx: &mut AuditedTx,
    r: &InvitationRow,
    org_name: &str,
    token: &str,
) -> Result<(), AppError> {
    let link = accept_url(state, token);
    let conn = tx.conn();
    let role_name = crate::server::service::roles::resolve(conn, &r.role)
        .await?
        .map(|x| x.name)
        .unwrap_or_else(|| r.role.clone());
    let mail = invitation_mail(
        state,
        org_name,
        &r.inviter_name,
        &role_name,
        &r.email,
        &link,
        r.expires_at,
    );
    crate::server::mail::queue(
        tx,
        &state.secrets,
        crate::server::mail::MailFor {
            organization_id: Some(&r.organization_id),
            invitation_id: Some(&r.id),
        },
        &r.email,
        mail.subject,
        &mail.text,
        &mail.html,
    )
    .await?;
    if state.config.smtp_url.is_none() {
        if state.config.env == crate::server::config::Environment::Production {
            tracing::warn!(invitation = %r.id, "no LANYARD_SMTP_URL: the invitation mail is written under the data directory's mail/ folder");
        } else {
            // Development quickstart: the link in the log is the way in without a mail server.
            tracing::info!(to = %r.email, link = %link, "invitation link (no LANYARD_SMTP_URL: the mail is written under the data directory's mail/ folder)");
        }
    }
    Ok(())
}

fn esc(s: &str) -> String {
    crate::domain::text::escape_html(s)
}

/// The invitation mail: plain text and HTML with the vendor's branding.
pub fn invitation_mail(
    state: &AppState,
    org_name: &str,
    inviter: &str,
    role_name: &str,
    to: &str,
    link: &str,
    expires_at: i64,
) -> Mail {
    let b = &state.config.branding;
    let vendor = &b.vendor_name;
    let expires = rfc3339(expires_at);
    let subject = format!("{inviter} invited you to {org_name} on {vendor}");
    let text = format!(
        "{inviter} invited you to join {org_name} on {vendor} as {role_name}.\n\n\
         Accept the invitation:\n{link}\n\n\
         The link works once and expires at {expires} (UTC). If you did not expect this invitation, ignore this email.\n"
    );
    let logo = b
        .logo_url
        .as_deref()
        .map(|u| {
            format!(
                r#"<img src="{}" alt="{}" height="32"><br>"#,
                esc(u),
                esc(vendor)
            )
        })
        .unwrap_or_default();
    let html = format!(
        r#"<!doctype html><html><body style="font-family:system-ui,sans-serif;color:#0f172a;max-width:560px;margin:24px auto">
{logo}<h1 style="font-size:20px">Join {org} on {vendor}</h1>
<p><strong>{inviter}</strong> invited you to join <strong>{org}</strong> as <strong>{role}</strong>.</p>
<p><a href="{link}" style="display:inline-block;background:{color};color:#fff;padding:10px 16px;border-radius:8px;text-decoration:none">Accept the invitation</a></p>
<p style="font-size:13px;color:#475569">Or paste this address into your browser: {link}<br>The link works once and expires at {expires} (UTC). If you did not expect this invitation, ignore this email.</p>
</body></html>"#,
        org = esc(org_name),
        vendor = esc(vendor),
        inviter = esc(inviter),
        role = esc(role_name),
        link = esc(link),
        color = esc(&b.color),
        expires = esc(&expires),
    );
    Mail {
        to: to.to_owned(),
        subject,
        text,
        html,
    }
}

/// Makes a new link for the invitation and queues its mail; returns the link's token.
pub(super) async fn mail_new_link(
    state: &AppState,
    tx: &mut AuditedTx,
    row: &InvitationRow,
    org_name: &str,
) -> Result<String, AppError> {
    let token = new_secret(INVITE_TOKEN_PREFIX);
    let now = tx.now();
    db::invitations::insert_token(tx.conn(), &hash_secret(&token), &row.id, now).await?;
    queue_mail(state, tx, row, org_name, &token).await?;
    Ok(token)
}

/// Commits, wakes the mail worker and answers with the link (shown this once).
pub(super) async fn commit_with_link(
    state: &AppState,
    mut tx: AuditedTx,
    row: InvitationRow,
    token: &str,
) -> Result<Invitation, AppError> {
    let now = tx.now();
    let mut out = view(tx.conn(), row, now).await?;
    tx.commit().await?;
    state.mail_kick.notify_one();
    out.accept_url = Some(accept_url(state, token));
    Ok(out)
}

fn backoff_ms(attempts: i64) -> i64 {
    let base = 30_000i64.saturating_mul(1 << attempts.clamp(0, 7));
    let base = base.min(3600 * 1000);
    let jitter: i64 = rand::random::<u32>() as i64 % (base / 5 + 1);
    base + jitter
}

/// Sends the mail that is due; returns how many messages were attempted. Several nodes may run
/// it at once: each attempt is leased first.
pub async fn deliver_mail(state: &AppState) -> Result<usize, AppError> {
    let now = state.clock.now();
    let due = {
        let mut conn = state.db.pool.acquire().await?;
        db::mail::due_mail(&mut conn, now, 20).await?
    };
    let from = format!(
        "no-reply@{}",
        state.config.public_url.host_str().unwrap_or("localhost")
    );
    let mut n = 0;
    for m in due {
        {
            let _turn = state.db.write_turn().await?;
            let mut conn = state.db.pool.acquire().await?;
            let lease_until = state.clock.now() + 5 * 60 * 1000;
            if !db::mail::claim_mail(&mut conn, &m.id, m.next_attempt_at, lease_until).await? {
                continue;
            }
        }
        n += 1;
        let body = state
            .secrets
            .open(&m.body_enc, &format!("mail_outbox:{}", m.id))
            .and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok());
        let outcome = match body {
            None => Err(
                "the stored message cannot be read (was LANYARD_SECRET_KEY changed?)".to_owned(),
            ),
            Some(b) => {
                let mail = Mail {
                    to: m.recipient.clone(),
                    subject: m.subject.clone(),
                    text: b["text"].as_str().unwrap_or_default().to_owned(),
                    html: b["html"].as_str().unwrap_or_default().to_owned(),
                };
                state
                    .mailer
                    .send(&state.config.branding.vendor_name, &from, &mail)
                    .await
            }
        };
        let done = state.clock.now();
        let _turn = state.db.write_turn().await?;
        let mut conn = state.db.pool.acquire().await?;
        match outcome {
            Ok(info) => {
                tracing::info!(mail = %m.id, to = %m.recipient, %info, "mail sent");
                db::mail::mail_sent(&mut conn, &m.id, done).await?;
            }
            Err(e) => {
                let e: String = e.chars().take(500).collect();
                let next =
                    (m.attempts + 1 < MAX_MAIL_ATTEMPTS).then(|| done + backoff_ms(m.attempts));
                tracing::warn!(mail = %m.id, to = %m.recipient, error = %e, retry_at = ?next, "mail delivery failed");
                db::mail::mail_failed(&mut conn, &m.id, &e, next, done).await?;
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff_ms(0) >= 30_000 && backoff_ms(0) <= 36_000);
        assert!(backoff_ms(3) >= 240_000);
        assert!(backoff_ms(20) <= 3600 * 1000 + 720_000);
    }
}
