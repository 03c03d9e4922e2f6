//! `sqlx::migrate!` embeds the migration folders at compile time; without this, adding a
//! migration file would not rebuild the crate and the new file would silently be left out.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
