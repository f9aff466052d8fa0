//! Headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver` packages, as
//! `.ci/run` installs them): open a page with an `Authorization` header, run a script in it, take a
//! full-page screenshot. Talks to chromedriver on loopback with plain HTTP/1.1 requests.

use crate::util::{LIMIT, raw, wait_for};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn find(names: &[&str]) -> PathBuf {
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    for name in names {
        for dir in std::env::split_paths(&dirs).chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/lib/chromium")]) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!("{} not found: install Debian's chromium and chromium-driver packages (see .ci/run)", names.join(" or "))
}

/// One browser session; chromedriver is killed when this is dropped.
pub struct Browser {
    driver: Child,
    authority: String,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub fn start(width: u32, height: u32) -> Browser {
        let driver_bin = find(&["chromedriver"]);
        let chromium = find(&["chromium", "chromium-browser"]);
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let authority = format!("127.0.0.1:{port}");
        wait_for("chromedriver to answer", LIMIT, || {
            std::net::TcpStream::connect(&authority).is_ok() && raw(&authority, "GET", "/status", &[], "").0 == 200
        });
        let profile = tempfile::tempdir().expect("profile dir");
        let mut browser = Browser { driver, authority, session: String::new(), _profile: profile };
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--hide-scrollbars".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let created = browser.call("POST", "/session", &caps);
        browser.session = created["sessionId"].as_str().expect("a session id").to_string();
        browser
    }

    /// A WebDriver command; its `value`. Fails the test on a WebDriver error.
    fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        let body = if method == "GET" || method == "DELETE" { String::new() } else { body.to_string() };
        let (code, response) =
            raw(&self.authority, method, path, &[("Content-Type", "application/json; charset=utf-8")], &body);
        let json = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let answer: Value =
            serde_json::from_str(json).unwrap_or_else(|e| panic!("{method} {path}: {e}: {response:.500}"));
        assert_eq!(code, 200, "{method} {path}: {answer:.500}");
        answer["value"].clone()
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// A Chrome DevTools Protocol command.
    fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.call("POST", &self.session_path("/goog/cdp/execute"), &json!({"cmd": cmd, "params": params}))
    }

    /// Send this header with every request from now on.
    pub fn set_header(&self, name: &str, value: &str) {
        self.cdp("Network.enable", json!({}));
        self.cdp("Network.setExtraHTTPHeaders", json!({"headers": {name: value}}));
    }

    pub fn open(&self, url: &str) {
        self.call("POST", &self.session_path("/url"), &json!({"url": url}));
    }

    /// Run `script` (a function body; `return` its result) in the page.
    pub fn eval(&self, script: &str) -> Value {
        self.call("POST", &self.session_path("/execute/sync"), &json!({"script": script, "args": []}))
    }

    /// The whole page (beyond the window) as a PNG written to `to`.
    pub fn screenshot(&self, to: &Path) {
        use base64::Engine as _;
        let shot = self.cdp("Page.captureScreenshot", json!({"format": "png", "captureBeyondViewport": true}));
        let png =
            base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().expect("data")).expect("base64");
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(to, png).expect("write the screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = self.session_path("");
            let _ = raw(&self.authority, "DELETE", &path, &[], "");
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
