//! `lanyard backup --to FILE` and `lanyard restore --from FILE` (SQLite). A backup is SQLite's
//! `VACUUM INTO`: one read transaction, so the copy is consistent while Lanyard serves and
//! writes (WAL); every write acknowledged before the backup began is in it. On PostgreSQL the
//! database's own tools do this (`pg_dump`, or base backups with WAL archiving for
//! point-in-time recovery): see README, "Operating Lanyard".

use std::path::{Path, PathBuf};

use sqlx::Connection as _;

use super::db::{Db, Dialect};

const ON_POSTGRES: &str = "on PostgreSQL, back up with pg_dump (or base backups and WAL archiving for point-in-time recovery) and restore with pg_restore; see README, \"Operating Lanyard\"";

/// The file of a `sqlite:` database URL.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Writes a consistent copy of the live database to `to` (which must not exist); answers its size.
pub async fn backup(db: &Db, to: &Path) -> Result<u64, String> {
    if db.dialect == Dialect::Postgres {
        return Err(ON_POSTGRES.into());
    }
    if to.exists() {
        return Err(format!("{} exists; back up to a new file", to.display()));
    }
    let target = to
        .to_str()
        .ok_or_else(|| "the backup path must be UTF-8".to_owned())?;
    sqlx::query(&format!("VACUUM INTO '{}'", target.replace('\'', "''")))
        .execute(&db.pool)
        .await
        .map_err(|e| format!("backup failed: {e}"))?;
    check(to).await?;
    std::fs::metadata(to)
        .map(|m| m.len())
        .map_err(|e| format!("backup written but not readable: {e}"))
}

/// Whether `file` is a sound Lanyard SQLite database: integrity check passes and it has been
/// migrated; answers the newest migration it carries.
async fn check(file: &Path) -> Result<i64, String> {
    let url = format!("sqlite://{}?mode=ro", file.display());
    let mut conn = sqlx::AnyConnection::connect(&url)
        .await
        .map_err(|e| format!("{} cannot be opened as SQLite: {e}", file.display()))?;
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| format!("{} is not a SQLite database: {e}", file.display()))?;
    if integrity != "ok" {
        return Err(format!(
            "{} failed SQLite's integrity check: {integrity}",
            file.display()
        ));
    }
    let newest: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut conn)
            .await
            .map_err(|_| {
                format!(
                    "{} is not a Lanyard database (no migrations table)",
                    file.display()
                )
            })?;
    let _ = conn.close().await;
    newest.ok_or_else(|| format!("{} has no applied migrations", file.display()))
}

/// Refuses while a process has the database open: a running Lanyard (its writer, its readers
/// and its checkpointer keep connections open while it serves) would go on writing to the file
/// being replaced, and every write after the restore would be lost. Every connection to a WAL
/// database holds a shared lock on it; a connection in exclusive locking mode gets its exclusive
/// lock only when no other is open. (A server started between this check and the replacement is
/// not seen: the README says to stop Lanyard first.) A file SQLite cannot read (a damaged
/// database, the reason for a restore) is not refused here.
async fn ensure_unused(target: &Path) -> Result<(), String> {
    let url = format!("sqlite://{}?mode=rw", target.display());
    let Ok(mut conn) = sqlx::AnyConnection::connect(&url).await else {
        return Ok(());
    };
    let mut locked = false;
    for sql in [
        "PRAGMA busy_timeout = 0",
        "PRAGMA locking_mode = EXCLUSIVE",
        "BEGIN EXCLUSIVE",
        "ROLLBACK",
    ] {
        if let Err(e) = sqlx::query(sql).execute(&mut conn).await {
            locked = matches!(&e, sqlx::Error::Database(d) if d.code().as_deref() == Some("5"))
                || e.to_string().contains("database is locked");
            break;
        }
    }
    let _ = conn.close().await;
    if locked {
        return Err(format!(
            "{} is in use (is Lanyard still running?): stop every process that has it open, then run restore again",
            target.display()
        ));
    }
    Ok(())
}

/// Replaces the database at `database_url` with the backup `from`. Lanyard must be stopped
/// (every node: on SQLite there is one). Refuses to replace an existing database without
/// `force`. Answers the restored file.
pub async fn restore(database_url: &str, from: &Path, force: bool) -> Result<PathBuf, String> {
    let Some(target) = sqlite_file(database_url) else {
        return Err(ON_POSTGRES.into());
    };
    sqlx::any::install_default_drivers();
    check(from).await?;
    if target.exists() && !force {
        return Err(format!(
            "{} exists; stop Lanyard, then run restore again with --force to replace it",
            target.display()
        ));
    }
    if target.exists() {
        ensure_unused(&target).await?;
    }
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let tmp = target.with_extension("restoring");
    std::fs::copy(from, &tmp).map_err(|e| format!("cannot copy the backup: {e}"))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("cannot flush the copy: {e}"))?;
    // The old database's write-ahead log belongs to the old file: it must not be replayed
    // into the restored one.
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", target.display()));
        if side.exists() {
            std::fs::remove_file(&side)
                .map_err(|e| format!("cannot remove {}: {e}", side.display()))?;
        }
    }
    std::fs::rename(&tmp, &target).map_err(|e| format!("cannot put the backup in place: {e}"))?;
    Ok(target)
}
