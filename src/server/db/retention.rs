//! Retention purges of logs kept per owner (a directory's SCIM requests, a connection's sign-in
//! attempts): rows older than a time, deleted owner by owner through the `(owner, time, …)`
//! index, one statement per owner. A plain `DELETE … WHERE time < ?` has no index leading with
//! the time, so it read the whole log (bodies and all) on every run, and on SQLite held the write
//! lock while it did (issue 17). Not batched further: a run deletes what aged out in the last
//! ten minutes; a `LIMIT`ed `id IN (…)` was planned on PostgreSQL as a scan of the whole log to
//! find the ids.

use super::Conn;

/// The owners that have rows in `table` older than `$1`, two index probes each: the `owner`
/// after the last one found, until none (a skip scan of an index that leads with `owner`), and
/// its oldest `time`. An owner with nothing due costs no statement of its own (on SQLite, no
/// turn at the write lock).
pub fn owners_sql(table: &str, owner: &str, time: &str) -> String {
    format!(
        "WITH RECURSIVE o(k) AS ( \
         SELECT MIN({owner}) FROM {table} \
         UNION ALL SELECT (SELECT MIN(t.{owner}) FROM {table} t WHERE t.{owner} > o.k) FROM o WHERE o.k IS NOT NULL \
         ) SELECT k FROM o WHERE k IS NOT NULL \
         AND (SELECT MIN(x.{time}) FROM {table} x WHERE x.{owner} = o.k) < $1"
    )
}

/// One step (`$1`: the owner, `$2`: before): the owner's rows with `time < $2`, a range of the
/// `(owner, time)` index.
pub fn step_sql(table: &str, owner: &str, time: &str) -> String {
    format!("DELETE FROM {table} WHERE {owner} = $1 AND {time} < $2")
}

/// Deletes `table`'s rows whose `time` is before `before`, owner by owner; the number deleted.
pub async fn purge_by_owner(
    conn: &mut Conn,
    table: &str,
    owner: &str,
    time: &str,
    before: i64,
) -> Result<u64, sqlx::Error> {
    let owners: Vec<String> = sqlx::query_scalar(&owners_sql(table, owner, time))
        .bind(before)
        .fetch_all(&mut *conn)
        .await?;
    let step = step_sql(table, owner, time);
    let mut purged = 0;
    for key in &owners {
        purged += sqlx::query(&step)
            .bind(key)
            .bind(before)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(purged)
}
