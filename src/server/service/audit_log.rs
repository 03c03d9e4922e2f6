//! Reading the audit trail.

use crate::domain::event_type::EventType;
use crate::domain::ids::OrgId;
use crate::domain::target::TargetKind;
use serde::{Deserialize, Serialize};

use crate::server::audit::{self, AuditFilter, AuditRow};
use crate::server::clock::rfc3339;
use crate::server::error::AppError;
use crate::server::state::AppState;

/// An audit event as the API and the portal show it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: String,
    pub organization_id: Option<String>,
    /// Position in the organization's chain.
    pub sequence: i64,
    pub action: String,
    #[schema(value_type = Object)]
    pub actor: serde_json::Value,
    #[schema(value_type = Vec<Object>)]
    pub targets: serde_json::Value,
    #[schema(value_type = Object)]
    pub context: serde_json::Value,
    pub occurred_at: String,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub hash: String,
    pub previous_hash: String,
}

impl From<AuditRow> for AuditEvent {
    fn from(r: AuditRow) -> Self {
        AuditEvent {
            id: r.id,
            organization_id: r.organization_id,
            sequence: r.chain_seq,
            action: r.action,
            actor: serde_json::json!({ "type": r.actor_type, "id": r.actor_id, "name": r.actor_name }),
            targets: serde_json::from_str(&r.targets).unwrap_or_default(),
            context: serde_json::json!({ "ip": r.ip, "user_agent": r.user_agent, "request_id": r.request_id }),
            occurred_at: rfc3339(r.occurred_at),
            metadata: serde_json::from_str(&r.metadata).unwrap_or_default(),
            hash: r.hash,
            previous_hash: r.prev_hash,
        }
    }
}

/// The filters of the audit log, as the API and the portal take them.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilterParams {
    /// An action (`membership.suspended`) or a prefix (`membership.*`).
    pub action: Option<String>,
    /// An actor's id or name.
    pub actor: Option<String>,
    /// A target's id (`om_…`, `dir_…`, …).
    pub target: Option<String>,
    /// From this time (RFC 3339 or a date `2026-11-01`), inclusive.
    pub from: Option<String>,
    /// Up to this time (RFC 3339 or a date), exclusive.
    pub to: Option<String>,
}

fn parse_time(field: &'static str, raw: &str) -> Result<i64, crate::domain::FieldError> {
    use time::format_description::well_known::Rfc3339;
    let raw = raw.trim();
    let t = time::OffsetDateTime::parse(raw, &Rfc3339).or_else(|_| {
        time::Date::parse(
            raw,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map(|d| d.midnight().assume_utc())
    });
    t.map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| {
            crate::domain::FieldError::new(
                field,
                format!(
                    "{field} must be a date like 2026-11-01 or a time like 2026-11-01T12:00:00Z"
                ),
            )
        })
}

impl FilterParams {
    /// Checks and converts.
    pub fn to_filter(&self) -> Result<AuditFilter, crate::domain::FieldError> {
        let clean = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let f = AuditFilter {
            action: clean(&self.action),
            actor: clean(&self.actor),
            target: clean(&self.target),
            from: clean(&self.from)
                .map(|v| parse_time("from", &v))
                .transpose()?,
            to: clean(&self.to).map(|v| parse_time("to", &v)).transpose()?,
        };
        if let (Some(a), Some(b)) = (f.from, f.to) {
            if a >= b {
                return Err(crate::domain::FieldError::new(
                    "to",
                    "to must be after from",
                ));
            }
        }
        Ok(f)
    }
}

/// Appends an event the vendor's product reports (WorkOS's `POST /audit_logs/events`) to a live
/// organization's chain; returns its id. It is marked as the vendor's (see
/// [`audit::AuditedTx::record_vendor`]) and never reaches the vendor's feed.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn record_vendor(
    state: &AppState,
    actor: &audit::Actor,
    ctx: &audit::RequestContext,
    organization_id: &OrgId,
    entry: audit::VendorEntry,
) -> Result<String, AppError> {
    let mut tx = audit::AuditedTx::begin(&state.db, actor, ctx, state.clock.now()).await?;
    // Read in the write: an organization deleted meanwhile takes no new event.
    crate::server::db::organizations::get(tx.conn(), organization_id.as_str())
        .await?
        .ok_or(AppError::NotFound("organization"))?;
    let id = tx.record_vendor(organization_id.as_str(), entry);
    tx.commit().await?;
    Ok(id)
}

/// Records an export of a live organization's trail (WorkOS's `POST /audit_logs/exports`),
/// audited as `audit.exported` in the organization's chain.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn create_export(
    state: &AppState,
    actor: &audit::Actor,
    ctx: &audit::RequestContext,
    organization_id: &OrgId,
    range: (i64, i64),
    keep: &Keep,
) -> Result<crate::server::db::audit_exports::ExportRow, AppError> {
    use crate::domain::ids::IdKind;
    let now = state.clock.now();
    let mut tx = audit::AuditedTx::begin(&state.db, actor, ctx, now).await?;
    crate::server::db::organizations::get(tx.conn(), organization_id.as_str())
        .await?
        .ok_or(AppError::NotFound("organization"))?;
    let row = crate::server::db::audit_exports::ExportRow {
        id: crate::server::db::new_id(IdKind::AuditLogExport),
        organization_id: organization_id.to_string(),
        range_start: range.0,
        range_end: range.1,
        filter: serde_json::to_string(keep).unwrap_or_else(|_| "{}".into()),
        created_at: now,
    };
    crate::server::db::audit_exports::insert(tx.conn(), &row).await?;
    tx.record(
        Some(organization_id.as_str()),
        EventType::AuditExported,
        vec![audit::Target {
            kind: "audit_log_export".into(),
            id: row.id.clone(),
            name: None,
        }],
        serde_json::json!({
            "range_start": rfc3339(range.0),
            "range_end": rfc3339(range.1),
            "filter": keep,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// Lists an organization's events oldest first after a cursor (the chain sequence).
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn list(
    state: &AppState,
    organization_id: &OrgId,
    after: Option<&str>,
    limit: Option<i64>,
) -> Result<(Vec<AuditEvent>, Option<String>), AppError> {
    list_filtered(
        state,
        organization_id,
        after,
        limit,
        &AuditFilter::default(),
    )
    .await
}

/// Like `list`, with filters.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn list_filtered(
    state: &AppState,
    organization_id: &OrgId,
    after: Option<&str>,
    limit: Option<i64>,
    filter: &AuditFilter,
) -> Result<(Vec<AuditEvent>, Option<String>), AppError> {
    let after_seq = match after {
        None => 0,
        Some(c) => c.parse::<i64>().map_err(|_| {
            crate::domain::FieldError::new(
                "after",
                "after must be a next_cursor value from a previous page",
            )
        })?,
    };
    let limit = super::check_limit(limit)?;
    state.db.caught_up().await;
    let mut conn = state.db.pool.acquire().await?;
    let mut rows =
        audit::list_filtered(&mut conn, organization_id, after_seq, filter, limit + 1).await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.chain_seq.to_string())
    } else {
        None
    };
    Ok((rows.into_iter().map(Into::into).collect(), next))
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Ndjson,
}

fn csv_cell(s: &str) -> String {
    // Cells that a spreadsheet would run as a formula are prefixed with a quote.
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    // A spreadsheet that splits on `;` or tabs (many locales) would start a new cell, perhaps a
    // formula, inside an unquoted one.
    if s.contains([',', '"', '\n', '\r', ';', '\t']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn export_lines(rows: &[AuditRow], format: ExportFormat) -> String {
    let mut out = String::new();
    for r in rows {
        match format {
            ExportFormat::Ndjson => {
                out.push_str(
                    &serde_json::to_string(&AuditEvent::from(r.clone())).unwrap_or_default(),
                );
                out.push('\n');
            }
            ExportFormat::Csv => {
                let cells = [
                    r.chain_seq.to_string(),
                    rfc3339(r.occurred_at),
                    r.action.clone(),
                    r.actor_type.clone(),
                    r.actor_id.clone(),
                    r.actor_name.clone(),
                    r.targets.clone(),
                    r.ip.clone().unwrap_or_default(),
                    r.metadata.clone(),
                    r.id.clone(),
                    r.hash.clone(),
                ];
                let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
                out.push_str(&line.join(","));
                out.push_str("\r\n");
            }
        }
    }
    out
}

/// The export as a stream of chunks: read 1,000 events at a time by chain position, so memory
/// stays flat whatever the size.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub fn export_stream(
    state: AppState,
    organization_id: String,
    filter: AuditFilter,
    format: ExportFormat,
) -> impl futures::Stream<Item = Result<String, std::io::Error>> + Send + 'static {
    export_stream_where(state, organization_id, filter, format, Keep::default())
}

/// Which events of a WorkOS audit log export are kept, beyond the time range: each list, when
/// not empty, must match (`actions` matches Lanyard's action or the vendor's own name).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Keep {
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub actor_names: Vec<String>,
    #[serde(default)]
    pub actor_ids: Vec<String>,
    /// Target types.
    #[serde(default)]
    pub targets: Vec<String>,
}

impl Keep {
    /// Whether `r` is kept.
    pub fn keeps(&self, r: &AuditRow) -> bool {
        let vendor = crate::server::audit::VENDOR_PREFIX;
        let action_ok = self.actions.is_empty()
            || self
                .actions
                .iter()
                .any(|a| r.action == *a || r.action.strip_prefix(vendor) == Some(a.as_str()));
        let name_ok = self.actor_names.is_empty() || self.actor_names.contains(&r.actor_name);
        let id_ok = self.actor_ids.is_empty() || self.actor_ids.contains(&r.actor_id);
        let target_ok = self.targets.is_empty() || {
            let ts: Vec<crate::server::audit::Target> =
                serde_json::from_str(&r.targets).unwrap_or_default();
            ts.iter().any(|t| self.targets.contains(&t.kind))
        };
        action_ok && name_ok && id_ok && target_ok
    }
}

/// [`export_stream`] keeping only the events `keep` keeps.
pub fn export_stream_where(
    state: AppState,
    organization_id: String,
    filter: AuditFilter,
    format: ExportFormat,
    keep: Keep,
) -> impl futures::Stream<Item = Result<String, std::io::Error>> + Send + 'static {
    const PAGE: i64 = 1000;
    let header = match format {
        ExportFormat::Csv => "sequence,occurred_at,action,actor_type,actor_id,actor_name,targets,ip,metadata,id,hash\r\n".to_owned(),
        ExportFormat::Ndjson => String::new(),
    };
    futures::stream::unfold((Some(header), 0i64, false), move |(header, after, done)| {
        let state = state.clone();
        let org = organization_id.clone();
        let filter = filter.clone();
        let keep = keep.clone();
        async move {
            if let Some(h) = header.filter(|h| !h.is_empty()) {
                return Some((Ok(h), (None, after, done)));
            }
            if done {
                return None;
            }
            if after == 0 {
                // The export holds every event answered before it began.
                state.db.caught_up().await;
            }
            let rows = match state.db.pool.acquire().await {
                Ok(mut conn) => audit::list_filtered(&mut conn, &org, after, &filter, PAGE).await,
                Err(e) => Err(e),
            };
            match rows {
                Err(e) => {
                    tracing::error!(error = %e, "audit export failed");
                    Some((
                        Err(std::io::Error::other("audit export failed")),
                        (None, after, true),
                    ))
                }
                Ok(rows) if rows.is_empty() => None,
                Ok(rows) => {
                    let last = rows.last().map(|r| r.chain_seq).unwrap_or(after);
                    let more = rows.len() as i64 == PAGE;
                    let kept: Vec<AuditRow> = rows.into_iter().filter(|r| keep.keeps(r)).collect();
                    Some((Ok(export_lines(&kept, format)), (None, last, !more)))
                }
            }
        }
    })
}

/// The export as an HTTP response (streamed, downloaded as a file).
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub fn export_response(
    state: AppState,
    organization_id: OrgId,
    filter: AuditFilter,
    format: ExportFormat,
) -> axum::response::Response {
    export_response_where(state, organization_id, filter, format, Keep::default())
}

/// [`export_response`] keeping only the events `keep` keeps.
pub fn export_response_where(
    state: AppState,
    organization_id: OrgId,
    filter: AuditFilter,
    format: ExportFormat,
    keep: Keep,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let (ct, ext) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ExportFormat::Ndjson => ("application/x-ndjson", "ndjson"),
    };
    let name = format!("audit-{organization_id}.{ext}");
    let body = axum::body::Body::from_stream(export_stream_where(
        state,
        organization_id.into_string(),
        filter,
        format,
        keep,
    ));
    (
        [
            (axum::http::header::CONTENT_TYPE, ct.to_owned()),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// Purges audit events past each organization's retention (`audit_retention_days`), recording
/// `audit.purged` with the checkpoint in the same transaction. Returns how many were deleted.
pub async fn purge_expired(state: &AppState) -> Result<u64, AppError> {
    use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
    const DAY_MS: i64 = 24 * 3600 * 1000;
    let orgs = {
        let mut conn = state.db.pool.acquire().await?;
        crate::server::db::organizations::retentions(&mut conn).await?
    };
    let mut total = 0;
    for crate::server::db::organizations::Retention {
        id: org,
        audit_retention_days: days,
    } in orgs
    {
        let now = state.clock.now();
        let mut tx =
            AuditedTx::begin(&state.db, &Actor::system(), &RequestContext::default(), now).await?;
        let Some((seq, hash)) = audit::last_before(tx.conn(), &org, now - days * DAY_MS).await?
        else {
            continue;
        };
        let n = audit::purge_through(tx.conn(), &org, seq, &hash, now).await?;
        tx.record(
            Some(&org),
            EventType::AuditPurged,
            vec![Target::new(TargetKind::Organization, &org, None)],
            serde_json::json!({ "through_sequence": seq, "checkpoint_hash": hash, "events": n, "retention_days": days }),
        )
        .await?;
        tx.commit().await?;
        total += n;
    }
    Ok(total)
}

/// The newest events matching `filter`, before a chain position, for the portal's viewer.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn recent_filtered(
    state: &AppState,
    organization_id: &str,
    before_seq: i64,
    filter: &AuditFilter,
    limit: i64,
) -> Result<Vec<AuditEvent>, AppError> {
    state.db.caught_up().await;
    let mut conn = state.db.pool.acquire().await?;
    Ok(
        audit::list_filtered_recent(&mut conn, organization_id, before_seq, filter, limit)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn cells_are_quoted_wherever_a_spreadsheet_could_split_them() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("=1+1"), "'=1+1");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        // Locales that split on `;` (or tabs) would otherwise open a cell `=1+1`.
        assert_eq!(csv_cell("Jane;=1+1;"), "\"Jane;=1+1;\"");
        assert_eq!(csv_cell("Jane\t=1+1"), "\"Jane\t=1+1\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
