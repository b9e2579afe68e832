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
