//! A real headless Chromium driven through chromedriver (WebDriver), from Debian's packages.
//!
//! `Browser::start()` runs chromedriver on a free loopback port with a fresh profile; the flags
//! are those of ../shared/TOOLCHAIN.md (no sandbox as root, no background networking on this
//! closed network). Every wait is bounded.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

/// How long a page gets to show what a test waits for.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Browser {
    pub client: Client,
    driver: Child,
    /// Also names this browser's Chromium processes (`--user-data-dir=...`).
    profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Browser {
        Self::start_with(&[]).await
    }

    /// A browser that reaches nothing but this machine's loopback (every other request goes to
    /// a proxy that does not exist): for pages that must work with no internet.
    pub async fn start_offline() -> Browser {
        Self::start_with(&["--proxy-server=http://127.0.0.1:9"]).await
    }

    async fn start_with(extra_args: &[&str]) -> Browser {
        let chromedriver =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {chromedriver} ({e}): run `make setup`"));
        let profile = tempfile::tempdir().expect("browser profile directory");
        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
        ]
        .iter()
        .chain(extra_args)
        .map(|arg| (*arg).to_owned())
        .collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": chromium, "args": args }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector).capabilities(caps.clone()).connect(&url).await {
                Ok(client) => break client,
                Err(err) if Instant::now() < deadline => {
                    let _ = err;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => {
                    let _ = driver.kill();
                    panic!("no WebDriver session from {chromedriver} within 20 s: {err}");
                }
            }
        };
        Browser { client, driver, profile }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    /// Type `text` into the input matching `css` (after clearing it).
    pub async fn fill(&self, css: &str, text: &str) {
        let input =
            self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
        input.clear().await.unwrap_or_else(|e| panic!("clearing {css}: {e}"));
        input.send_keys(text).await.unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    /// Type `text` into the input without clearing it first.
    pub async fn type_text(&self, css: &str, text: &str) {
        let input =
            self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
        input.send_keys(text).await.unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    pub async fn click(&self, css: &str) {
        let element =
            self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
        element.click().await.unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// Wait until `css` matches exactly `count` elements; returns their texts.
    pub async fn wait_for_count(&self, css: &str, count: usize) -> Vec<String> {
        self.wait_until(&format!("{count} × {css}"), || async {
            let found = self.client.find_all(Locator::Css(css)).await.ok()?;
            if found.len() != count {
                return None;
            }
            let mut texts = Vec::new();
            for element in found {
                texts.push(element.text().await.ok()?);
            }
            Some(texts)
        })
        .await
    }

    /// The texts of every element matching `css` now (no waiting).
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let mut texts = Vec::new();
        for element in self.client.find_all(Locator::Css(css)).await.unwrap_or_default() {
            texts.push(element.text().await.unwrap_or_default());
        }
        texts
    }

    /// Wait until the first element matching `css` has text satisfying `pred`; returns it.
    pub async fn wait_for_text(&self, css: &str, pred: impl Fn(&str) -> bool) -> String {
        self.wait_until(css, || async {
            let text = self.client.find(Locator::Css(css)).await.ok()?.text().await.ok()?;
            pred(&text).then_some(text)
        })
        .await
    }

    /// Poll `probe` every 100 ms until it yields, failing the test after [`PAGE_TIMEOUT`].
    pub async fn wait_until<T, F, Fut>(&self, what: &str, probe: F) -> T
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        self.wait_until_within(what, PAGE_TIMEOUT, probe).await
    }

    /// [`Browser::wait_until`] with a bound of its own, for what the page waits on longer than
    /// [`PAGE_TIMEOUT`] (a scenario that kills processes and waits for them).
    pub async fn wait_until_within<T, F, Fut>(&self, what: &str, within: Duration, probe: F) -> T
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + within;
        loop {
            if let Some(found) = probe().await {
                return found;
            }
            if Instant::now() > deadline {
                let source = self.client.source().await.unwrap_or_default();
                panic!("page never showed {what} within {within:?}; page source:\n{source}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Run `script` in the page (its `arguments` are `args`); what it returns.
    pub async fn eval(&self, script: &str, args: Vec<serde_json::Value>) -> serde_json::Value {
        self.client.execute(script, args).await.unwrap_or_else(|e| panic!("running {script}: {e}"))
    }

    /// Run `script` in the page until it calls its last argument (the callback) with a value.
    pub async fn eval_async(
        &self,
        script: &str,
        args: Vec<serde_json::Value>,
    ) -> serde_json::Value {
        self.client
            .execute_async(script, args)
            .await
            .unwrap_or_else(|e| panic!("running {script}: {e}"))
    }

    /// Save what the window shows, `height` pixels tall, as a PNG at `path` (the README's
    /// screenshots are taken this way, by the tests, so they stay current).
    pub async fn screenshot(&self, path: &std::path::Path, height: u32) {
        self.client.set_window_size(1280, height).await.expect("resizing the window");
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    /// Run axe-core (installed by scripts/setup.sh, at `$LAB_AXE`) on the page against WCAG 2.1
    /// A and AA and axe's best practices; every violation as `(rule, impact, how many elements, the first few)`.
    pub async fn axe(&self) -> Vec<(String, String, usize, Vec<String>)> {
        let path = std::env::var("LAB_AXE").unwrap_or_else(|_| {
            let home = std::env::var("HOME").unwrap_or_default();
            format!("{home}/.cache/distlab/tools/node_modules/axe-core/axe.min.js")
        });
        let engine = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("axe-core at {path} ({e}): run `make setup`"));
        self.eval(&engine, vec![]).await;
        let script = "const done = arguments[arguments.length - 1];             axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})               .then(r => done(r.violations.map(v => [v.id, v.impact || '', v.nodes.length,                 v.nodes.slice(0, 4).map(n => n.target.join(' ') + ': ' + (n.failureSummary || '').split('\\n').slice(0, 2).join(' '))])))               .catch(e => done([['axe-failed', 'critical', 0, [String(e)]]]));";
        serde_json::from_value(self.eval_async(script, vec![]).await).expect("axe's violations")
    }

    /// End the WebDriver session and chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The PIDs of the processes whose command line contains `needle`.
fn processes_with(needle: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<i32>().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmdline).contains(needle).then_some(pid)
        })
        .collect()
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A test that panicked before `close` left its session open: chromedriver dies with a
        // kill, but the Chromium it started would not (it is reparented and lives on). Its
        // processes are the ones that name this browser's own profile directory.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let profile = format!("--user-data-dir={}", self.profile.path().display());
        for pid in processes_with(&profile) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}
