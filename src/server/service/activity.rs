//! The last [`DAYS`] days of an organization's sign-ins, SCIM requests and deliveries, per day,
//! for the charts of the portal and the console.

use std::collections::HashMap;

use crate::domain::chart::{fill, DayCount, DAYS};
use crate::domain::ids::OrgId;
use crate::server::db::{self, activity::DayRow};
use crate::server::error::AppError;
use crate::server::state::AppState;
use crate::server::timefmt::DAY_MS;

/// Per-key series (connection or directory id → its days); keys without activity are absent:
/// [`series`] gives them their zeros.
pub struct PerKey {
    today: i64,
    rows: HashMap<String, Vec<(i64, bool, i64)>>,
}

impl PerKey {
    fn new(today: i64, rows: Vec<DayRow>) -> Self {
        let mut by: HashMap<String, Vec<(i64, bool, i64)>> = HashMap::new();
        for (k, day, bad, n) in rows {
            by.entry(k).or_default().push((day, bad != 0, n));
        }
        PerKey { today, rows: by }
    }

    /// The days of `key`, every one of them.
    pub fn series(&self, key: &str) -> Vec<DayCount> {
        fill(
            self.today,
            DAYS,
            self.rows.get(key).cloned().unwrap_or_default(),
        )
    }
}

fn window(state: &AppState) -> (i64, i64) {
    let today = state.clock.now().div_euclid(DAY_MS);
    (today, (today - DAYS + 1) * DAY_MS)
}

/// How long sign-in attempts (each success and failure, with a failure's evidence) are kept.
pub const ATTEMPT_RETENTION_DAYS: i64 = 90;

/// Deletes sign-in attempts past [`ATTEMPT_RETENTION_DAYS`]; answers how many.
pub async fn purge_attempts(state: &AppState) -> Result<u64, AppError> {
    let before = state.clock.now() - ATTEMPT_RETENTION_DAYS * DAY_MS;
    let mut conn = state.db.pool.acquire().await?;
    Ok(db::sign_in::purge_attempts(&mut conn, before).await?)
}

/// Sign-ins per connection, succeeded and failed.
pub async fn sign_ins(state: &AppState, org: &OrgId) -> Result<PerKey, AppError> {
    let (today, since) = window(state);
    let mut conn = state.db.pool.acquire().await?;
    Ok(PerKey::new(
        today,
        db::activity::sign_ins(&mut conn, org, since).await?,
    ))
}

/// SCIM requests per directory, answered and failed.
pub async fn scim_requests(state: &AppState, org: &OrgId) -> Result<PerKey, AppError> {
    let (today, since) = window(state);
    let mut conn = state.db.pool.acquire().await?;
    Ok(PerKey::new(
        today,
        db::activity::scim_requests(&mut conn, org, since).await?,
    ))
}

/// Deliveries of the organization's events, accepted and given up.
pub async fn deliveries(state: &AppState, org: &OrgId) -> Result<Vec<DayCount>, AppError> {
    let (today, since) = window(state);
    let mut conn = state.db.pool.acquire().await?;
    Ok(PerKey::new(
        today,
        db::activity::deliveries(&mut conn, org, since).await?,
    )
    .series(""))
}
