//! The `wuwei` binary as an operator uses it: every subcommand, and what survives `kill -9`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_wuwei");

fn wuwei(args: &[&str], data_dir: &Path) -> std::process::Output {
    Command::new(BIN).args(args).arg("--data-dir").arg(data_dir).env_remove("WUWEI_DATABASE_URL").output().unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(data_dir: &Path) -> Server {
        let port = free_port();
        let child = Command::new(BIN)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(data_dir)
            .env_remove("WUWEI_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = reqwest::blocking::get(format!("{base}/readyz"))
                && r.status() == 200
            {
                break;
            }
            assert!(Instant::now() < deadline, "server did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        Server { child, base }
    }

    fn login(&self, username: &str, password: &str) -> reqwest::blocking::Response {
        reqwest::blocking::Client::new()
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"username": username, "password": password}))
            .send()
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["demo", "--help"],
        vec!["migrate", "--help"],
        vec!["user", "--help"],
        vec!["user", "add", "--help"],
        vec!["user", "passwd", "--help"],
        vec!["user", "disable", "--help"],
        vec!["audit", "--help"],
        vec!["audit", "verify", "--help"],
        vec!["points", "--help"],
        vec!["points", "verify", "--help"],
        vec!["backup", "--help"],
        vec!["openapi", "--help"],
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"), "{args:?}");
    }
}

#[test]
fn demo_twice_then_verify_and_backup() {
    let dir = tempfile::tempdir().unwrap();
    let first = wuwei(&["demo", "--no-serve"], dir.path());
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(out.contains("wuwei-demo") && out.contains("admin") && out.contains("gw01"), "{out}");
    let second = wuwei(&["demo", "--no-serve"], dir.path());
    assert!(second.status.success());
    let verify = wuwei(&["audit", "verify"], dir.path());
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("intact"));
    let copy = dir.path().join("copy.db");
    let backup = Command::new(BIN)
        .args(["backup", "--data-dir"])
        .arg(dir.path())
        .arg(&copy)
        .env_remove("WUWEI_DATABASE_URL")
        .output()
        .unwrap();
    assert!(backup.status.success(), "{}", String::from_utf8_lossy(&backup.stderr));
    // The copy is a working database: the audit trail in it verifies.
    let verify_copy = Command::new(BIN)
        .args(["audit", "verify", "--database-url"])
        .arg(format!("sqlite://{}", copy.display()))
        .output()
        .unwrap();
    assert!(verify_copy.status.success(), "{}", String::from_utf8_lossy(&verify_copy.stdout));
    // Refuses to overwrite.
    let again = Command::new(BIN).args(["backup", "--data-dir"]).arg(dir.path()).arg(&copy).output().unwrap();
    assert!(!again.status.success());
}

/// Posts awards and a redemption to two demo households straight through the store (as the
/// award path and the counter would), and returns the seq of the first award.
fn post_some_points(data_dir: &Path) -> i64 {
    use wuwei_domain::access::{Level, Place, Scope};
    use wuwei_domain::points::ledger::{PostingMeta, Request};
    use wuwei_store::households::{HouseholdFilter, list_households};
    use wuwei_store::{Actor, Store, StoreOptions, points, regions};

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{}", data_dir.join("wuwei.db").display());
        let store = Store::connect(&url, &StoreOptions::default()).await.unwrap();
        let town = regions::town_by_short_code(store.db(), "DW").await.unwrap().unwrap();
        let scope = Scope { level: Level::Town, place: Place { town_id: Some(town.id), ..Place::default() } };
        let filter = HouseholdFilter { town_id: Some(town.id), ..HouseholdFilter::default() };
        let (hh, _) = list_households(store.db(), &filter, &[scope], 0, 2).await.unwrap();
        let now = chrono::Utc::now();
        let actor = Actor::system("cli-test");
        let mut first_seq = None;
        for (i, request) in [
            Request::Award { household: hh[0].id, points: 30 },
            Request::Award { household: hh[1].id, points: 5 },
            Request::Redemption { household: hh[0].id, store: uuid::Uuid::now_v7(), points: 12 },
        ]
        .into_iter()
        .enumerate()
        {
            let meta = PostingMeta {
                id: uuid::Uuid::now_v7(),
                town_id: town.id,
                at: now,
                idempotency_key: format!("cli-test-{i}"),
                reference: format!("cli-test:{i}"),
            };
            let posted = points::post_one(&store, now, &actor, meta, request).await.unwrap();
            first_seq.get_or_insert(posted.posting.seq);
        }
        store.db().close_by_ref().await.unwrap();
        first_seq.unwrap()
    })
}

/// Runs raw SQL against the demo database (as someone with the file and a SQLite shell would).
fn tamper(data_dir: &Path, sql: &str) {
    use wuwei_store::{Conn, Store, StoreOptions};
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{}", data_dir.join("wuwei.db").display());
        let store = Store::connect(&url, &StoreOptions::default()).await.unwrap();
        store.db().execute_unprepared(sql).await.unwrap();
        store.db().close_by_ref().await.unwrap();
    });
}

#[test]
fn points_verify_passes_then_names_the_first_violation() {
    let dir = tempfile::tempdir().unwrap();
    assert!(wuwei(&["demo", "--no-serve"], dir.path()).status.success());
    let fresh = wuwei(&["points", "verify"], dir.path());
    let out = String::from_utf8_lossy(&fresh.stdout);
    assert_eq!(fresh.status.code(), Some(0), "{out}{}", String::from_utf8_lossy(&fresh.stderr));
    assert!(out.contains("points ledger intact"), "{out}");

    let seq = post_some_points(dir.path());
    let ok = wuwei(&["points", "verify", "--town", "DW"], dir.path());
    let out = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{out}{}", String::from_utf8_lossy(&ok.stderr));
    assert!(out.contains("intact: 1 town,") && out.contains("points in circulation"), "{out}");

    // The running balance is an ordinary row: a balance nudged by hand no longer equals its entries.
    tamper(dir.path(), "UPDATE points_balance SET balance = balance + 7 WHERE account_kind = 'household'");
    let bad = wuwei(&["points", "verify"], dir.path());
    let out = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{out}{}", String::from_utf8_lossy(&bad.stderr));
    assert!(out.contains("BROKEN") && out.contains("claimed balance") && out.contains("丁坞镇"), "{out}");
    tamper(dir.path(), "UPDATE points_balance SET balance = balance - 7 WHERE account_kind = 'household'");
    assert_eq!(wuwei(&["points", "verify"], dir.path()).status.code(), Some(0));

    // Entries are append-only; with the trigger dropped, an edited entry breaks its posting.
    tamper(dir.path(), "DROP TRIGGER points_entry_no_update");
    tamper(dir.path(), &format!("UPDATE points_entry SET points = points + 1 WHERE seq = {seq} AND line = 1"));
    let bad = wuwei(&["points", "verify"], dir.path());
    let out = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{out}{}", String::from_utf8_lossy(&bad.stderr));
    assert!(out.contains("BROKEN") && out.contains(&format!("posting {seq}:")), "{out}");

    // Not a violation but a failure to check: exit 2.
    let unknown = wuwei(&["points", "verify", "--town", "NOPE"], dir.path());
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no town"));
}

#[test]
fn user_add_passwd_and_disable() {
    let dir = tempfile::tempdir().unwrap();
    assert!(wuwei(&["demo", "--no-serve"], dir.path()).status.success());
    let mut add = Command::new(BIN)
        .args([
            "user",
            "add",
            "clerk9",
            "--display-name",
            "九号管理员",
            "--role",
            "store_clerk=371481107201",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin.take().unwrap().write_all(b"clerk9-password\n").unwrap();
    let out = add.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bad_role =
        wuwei(&["user", "add", "x-user", "--display-name", "x", "--role", "grid_worker=371481107201"], dir.path());
    assert!(!bad_role.status.success(), "a grid worker is bound to a grid");
    let server = Server::start(dir.path());
    assert_eq!(server.login("clerk9", "clerk9-password").status(), 200);
    drop(server);

    let mut passwd = Command::new(BIN)
        .args(["user", "passwd", "clerk9", "--data-dir"])
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    passwd.stdin.take().unwrap().write_all(b"another-password\n").unwrap();
    assert!(passwd.wait_with_output().unwrap().status.success());
    assert!(wuwei(&["user", "disable", "gw07"], dir.path()).status.success());
    let server = Server::start(dir.path());
    assert_eq!(server.login("clerk9", "clerk9-password").status(), 401);
    assert_eq!(server.login("clerk9", "another-password").status(), 200);
    assert_eq!(server.login("gw07", "wuwei-demo").status(), 403);
}

#[test]
fn an_acknowledged_write_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    assert!(wuwei(&["demo", "--no-serve"], dir.path()).status.success());
    let mut server = Server::start(dir.path());
    let login: Value = server.login("townadmin", "wuwei-demo").json().unwrap();
    let token = login["token"].as_str().unwrap();
    let client = reqwest::blocking::Client::new();
    let regions: Value = client
        .get(format!("{}/api/v1/regions?q=DW-AV01-NV01-G1", server.base))
        .bearer_auth(token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let grid = regions["items"][0]["id"].clone();
    let created = client
        .post(format!("{}/api/v1/users", server.base))
        .bearer_auth(token)
        .json(&json!({"username": "durable", "display_name": "持久", "password": "durable-password",
                      "roles": [{"role": "grid_worker", "scope_id": grid}]}))
        .send()
        .unwrap();
    assert_eq!(created.status(), 201);
    // No graceful anything: SIGKILL right after the acknowledgement.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(server);
    let server = Server::start(dir.path());
    assert_eq!(server.login("durable", "durable-password").status(), 200);
    let verify = wuwei(&["audit", "verify"], dir.path());
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn migrate_and_openapi() {
    let dir = tempfile::tempdir().unwrap();
    let out = wuwei(&["migrate"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("m0001_foundation"));
    let again = wuwei(&["migrate"], dir.path());
    assert!(String::from_utf8_lossy(&again.stdout).contains("none pending"));
    let doc = Command::new(BIN).arg("openapi").output().unwrap();
    let v: Value = serde_json::from_slice(&doc.stdout).unwrap();
    assert_eq!(v["openapi"], "3.1.0");
}
