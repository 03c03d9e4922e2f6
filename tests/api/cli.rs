//! The binary's runtime contract.

use crate::helpers::lanyard_cli as lanyard;

#[test]
fn api_key_create_prints_the_key_alone_on_the_last_line_and_it_works() {
    let dir = tempfile::tempdir().unwrap();
    let out = lanyard(dir.path())
        .args(["api-key", "create", "--name", "ci"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = stdout.lines().last().unwrap();
    assert!(
        last.starts_with("lanyard_sk_") && !last.contains(' '),
        "{stdout}"
    );
    assert!(
        dir.path().join("data/lanyard.db").exists(),
        "default SQLite file under ./data/"
    );
    assert!(
        dir.path().join("data/secret.key").exists(),
        "development key generated"
    );

    let out = lanyard(dir.path())
        .args(["api-key", "list"])
        .output()
        .unwrap();
    let listed = String::from_utf8(out.stdout).unwrap();
    assert!(
        listed.contains("ci") && !listed.contains(last),
        "list never shows secrets"
    );

    let out = lanyard(dir.path())
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok\tglobal\t1 events"));
}

#[test]
fn unknown_lanyard_variables_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = lanyard(dir.path())
        .env("LANYARD_LISTN", "0.0.0.0:1")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("LANYARD_LISTN"));
}

#[test]
fn a_bad_trusted_proxy_range_refuses_to_start_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = lanyard(dir.path())
        .env("LANYARD_TRUSTED_PROXIES", "10.0.0.1, 10.0.0.0/33")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("LANYARD_TRUSTED_PROXIES") && err.contains("10.0.0.0/33"),
        "{err}"
    );
}

#[test]
fn production_refuses_to_start_without_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = lanyard(dir.path())
        .env("LANYARD_ENV", "production")
        .env("LANYARD_PUBLIC_URL", "https://id.example.com")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("LANYARD_SECRET_KEY"));
}

#[test]
fn audit_verify_reports_a_tampered_chain() {
    let dir = tempfile::tempdir().unwrap();
    lanyard(dir.path())
        .args(["api-key", "create", "--name", "a"])
        .output()
        .unwrap();
    lanyard(dir.path())
        .args(["api-key", "create", "--name", "b"])
        .output()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = lanyard::server::db::Db::connect(&format!(
            "sqlite://{}",
            dir.path().join("data/lanyard.db").display()
        ))
        .await
        .unwrap();
        sqlx::query("UPDATE audit_events SET metadata = '{}' WHERE chain_seq = 1")
            .execute(&db.pool)
            .await
            .unwrap();
        db.pool.close().await;
    });
    let out = lanyard(dir.path())
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("BROKEN\tglobal\tat sequence 1"), "{stdout}");
}
