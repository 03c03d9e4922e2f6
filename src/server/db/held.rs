//! Statements held back to be sent together (issue 17): an `INSERT` or `UPDATE` that nothing in
//! its transaction reads before the next send, kept with its arguments. On PostgreSQL held
//! statements go out as one statement, each a data-modifying `WITH` item: one round trip instead
//! of one per statement. The items run on one snapshot and see none of each other's rows, but a
//! foreign key is checked when the statement ends, so a row may refer to a row a sibling item
//! inserts. On SQLite (in process: a statement costs no round trip) they run one after another,
//! in the order held, so a row is inserted before a row that refers to it.

use super::Conn;

/// A value bound to a held statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Text(String),
    MaybeText(Option<String>),
    Int(i64),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Arg::Text(s.to_owned())
    }
}

impl From<String> for Arg {
    fn from(s: String) -> Self {
        Arg::Text(s)
    }
}

impl From<Option<&str>> for Arg {
    fn from(s: Option<&str>) -> Self {
        Arg::MaybeText(s.map(str::to_owned))
    }
}

impl From<Option<String>> for Arg {
    fn from(s: Option<String>) -> Self {
        Arg::MaybeText(s)
    }
}

impl From<i64> for Arg {
    fn from(n: i64) -> Self {
        Arg::Int(n)
    }
}

/// One `INSERT` or `UPDATE` (no `RETURNING`), its placeholders `$1…$n` numbered in the order of
/// its arguments' first use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    sql: String,
    args: Vec<Arg>,
}

/// Most arguments one combined statement binds: PostgreSQL takes 65,535.
pub(crate) const MAX_ARGS: usize = 30_000;

impl Held {
    pub fn new(sql: impl Into<String>, args: Vec<Arg>) -> Held {
        let sql = sql.into();
        // Renumbering ([`renumber`]) reads every `$N` as a placeholder: no literal may hold one.
        debug_assert!(
            !sql.contains('\'') && !sql.contains("$$"),
            "a held statement binds its values: {sql}"
        );
        Held { sql, args }
    }

    /// How many arguments it binds.
    pub fn arg_count(&self) -> usize {
        self.args.len()
    }

    /// Runs it now, alone.
    pub async fn execute(&self, conn: &mut Conn) -> Result<(), sqlx::Error> {
        bind_all(sqlx::query(&self.sql), &self.args)
            .execute(conn)
            .await
            .map(|_| ())
    }
}

pub(crate) fn bind_all_held<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    held: &'q [Held],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for h in held {
        q = bind_all(q, &h.args);
    }
    q
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    args: &'q [Arg],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for a in args {
        q = match a {
            Arg::Text(s) => q.bind(s),
            Arg::MaybeText(s) => q.bind(s),
            Arg::Int(n) => q.bind(*n),
        };
    }
    q
}

/// Sends `held` in order: on PostgreSQL as few statements as the argument limit allows (one,
/// unless more than [`MAX_ARGS`] arguments), on SQLite one statement each.
pub async fn send(conn: &mut Conn, held: &[Held]) -> Result<(), sqlx::Error> {
    if !super::locks_rows(conn) {
        for h in held {
            h.execute(conn).await?;
        }
        return Ok(());
    }
    let mut rest = held;
    while !rest.is_empty() {
        let mut n = 1;
        let mut args = rest[0].args.len();
        while n < rest.len() && args + rest[n].args.len() <= MAX_ARGS {
            args += rest[n].args.len();
            n += 1;
        }
        let (batch, tail) = rest.split_at(n);
        rest = tail;
        if let [one] = batch {
            one.execute(conn).await?;
            continue;
        }
        let sql = combined(batch);
        let mut q = sqlx::query(&sql);
        for h in batch {
            q = bind_all(q, &h.args);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// `held` with the single-row inserts of one statement text made one multi-row insert each, at
/// the place of the first of them; the rest as they were. Only for held writes sent in one
/// statement (PostgreSQL, [`with_items`]): there a row may refer to a row inserted by a later
/// item, since foreign keys are checked when the statement ends.
pub(crate) fn merge_inserts(held: Vec<Held>) -> Vec<Held> {
    let mut out: Vec<Held> = Vec::with_capacity(held.len());
    let mut first: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for h in held {
        let Some(tuple) = single_row_tuple(&h.sql) else {
            out.push(h);
            continue;
        };
        match first.get(&h.sql) {
            Some(&i) => {
                let merged = &mut out[i];
                merged.sql.push_str(", ");
                renumber(&h.sql[tuple..], merged.args.len(), &mut merged.sql);
                merged.args.extend(h.args);
            }
            None => {
                first.insert(h.sql.clone(), out.len());
                out.push(h);
            }
        }
    }
    out
}

/// Where the one row of `INSERT INTO t (…) VALUES (…)` begins, when `sql` is exactly that (no
/// second row, no `ON CONFLICT`, no `RETURNING`, nothing but placeholders in the row).
fn single_row_tuple(sql: &str) -> Option<usize> {
    if !sql.starts_with("INSERT INTO ") {
        return None;
    }
    let at = sql.find(" VALUES (")? + " VALUES ".len();
    let row = &sql[at..];
    let inner = row.strip_prefix('(')?.strip_suffix(')')?;
    inner
        .chars()
        .all(|c| c == '$' || c == ',' || c == ' ' || c.is_ascii_digit())
        .then_some(at)
}

/// `h0 AS (s0), h1 AS (s1)`: `held` as the first items of a `WITH` whose other placeholders
/// come after theirs (bind them first: [`bind_all_held`]), and how many placeholders they take.
pub(crate) fn with_items(held: &[Held]) -> (String, usize) {
    let mut out = String::new();
    let mut offset = 0;
    for (i, h) in held.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&format!("h{i} AS ("));
        renumber(&h.sql, offset, &mut out);
        out.push(')');
        offset += h.args.len();
    }
    (out, offset)
}

/// `WITH h0 AS (s0), h1 AS (s1) s2`, each statement's placeholders moved past the ones before.
fn combined(batch: &[Held]) -> String {
    let mut out = String::with_capacity(batch.iter().map(|h| h.sql.len() + 16).sum());
    let mut offset = 0;
    let last = batch.len() - 1;
    for (i, h) in batch.iter().enumerate() {
        if i == 0 && last > 0 {
            out.push_str("WITH ");
        }
        if i < last {
            out.push_str(&format!("h{i} AS ("));
        }
        renumber(&h.sql, offset, &mut out);
        if i < last {
            out.push_str(if i + 1 < last { "), " } else { ") " });
        }
        offset += h.args.len();
    }
    out
}

/// Appends `sql` with each `$N` made `$N+offset`. Held statements carry no `$` in literals.
fn renumber(sql: &str, offset: usize, out: &mut String) {
    let mut chars = sql.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '$' || !chars.peek().is_some_and(|(_, d)| d.is_ascii_digit()) {
            out.push(c);
            continue;
        }
        let start = i + 1;
        let mut end = start;
        while let Some((j, d)) = chars.peek().copied() {
            if !d.is_ascii_digit() {
                break;
            }
            end = j + 1;
            chars.next();
        }
        let n: usize = sql[start..end].parse().unwrap_or(0);
        out.push('$');
        out.push_str(&(n + offset).to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_statements_combine_into_one_with_their_placeholders_moved() {
        let batch = [
            Held::new(
                "INSERT INTO a (x, y) VALUES ($1, $2)",
                vec![1.into(), "y".into()],
            ),
            Held::new("INSERT INTO b (x) VALUES ($1)", vec![2.into()]),
            Held::new(
                "UPDATE c SET x = $2 WHERE id = $1 AND z = $2",
                vec!["id".into(), 3.into()],
            ),
        ];
        assert_eq!(
            combined(&batch),
            "WITH h0 AS (INSERT INTO a (x, y) VALUES ($1, $2)), h1 AS (INSERT INTO b (x) VALUES ($3)) \
             UPDATE c SET x = $5 WHERE id = $4 AND z = $5"
        );
        assert_eq!(
            combined(&batch[..1]),
            "INSERT INTO a (x, y) VALUES ($1, $2)"
        );
    }

    #[test]
    fn single_row_inserts_of_one_text_merge_into_one_multi_row_insert() {
        let user = |id: &str, at: i64| {
            Held::new(
                "INSERT INTO users (id, created_at, updated_at) VALUES ($1, $2, $2)",
                vec![id.into(), at.into()],
            )
        };
        let grants = Held::new(
            "INSERT INTO grants (id) VALUES ($1), ($2)",
            vec!["g1".into(), "g2".into()],
        );
        let update = Held::new("UPDATE users SET x = $1", vec![1.into()]);
        let upsert = Held::new(
            "INSERT INTO c (k) VALUES ($1) ON CONFLICT (k) DO NOTHING",
            vec!["k".into()],
        );
        let merged = merge_inserts(vec![
            user("u1", 1),
            grants.clone(),
            update.clone(),
            upsert.clone(),
            user("u2", 2),
            upsert.clone(),
            user("u3", 3),
        ]);
        assert_eq!(
            merged[0].sql,
            "INSERT INTO users (id, created_at, updated_at) VALUES ($1, $2, $2), ($3, $4, $4), ($5, $6, $6)"
        );
        assert_eq!(
            merged[0].args,
            vec![
                "u1".into(),
                1.into(),
                "u2".into(),
                2.into(),
                "u3".into(),
                3.into()
            ]
        );
        // Several rows already, an update, an upsert: left as they were, in their order.
        assert_eq!(merged[1..], [grants, update, upsert.clone(), upsert]);
    }

    #[test]
    fn renumbering_moves_multi_digit_placeholders_and_leaves_the_rest() {
        let mut out = String::new();
        renumber("VALUES ($9, $10, $11) -- $ x$", 10, &mut out);
        assert_eq!(out, "VALUES ($19, $20, $21) -- $ x$");
    }
}
