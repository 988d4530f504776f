//! Every service's OpenAPI document tells the truth: schemathesis (PyPI, pinned; the set-up
//! installs it into the lab's virtualenv, `LAB_SCHEMATHESIS` names its `st`) generates requests
//! from each document of a started lab — valid ones, invalid ones, and stateful sequences — and
//! checks every answer against it (`--checks all`: statuses, content types, response schemas,
//! valid data accepted, invalid data refused, 405 with `Allow`).
//!
//! A 5xx fails only when the document does not list it (`status_code_conformance`): the 503s a
//! dependency's state causes are documented and expected. Three passes, so that what breaks the
//! lab runs after what it would break:
//! 1. every service but the control plane, without its admin routes;
//! 2. the same services' admin routes (tag `admin`: link faults, a model's behaviour, a store's
//!    promote / reset / apply), which change roles and links;
//! 3. the control plane, whose actions (kill, pause, links) are the lab's own faults; running a
//!    scenario is left to `control_plane.rs`.
//!
//! The peer routes (tag `peer`: `/paxos`, `/crdt/merge`, a store's `/replication/apply`) are
//! documented but not sent generated messages: a schema-valid Paxos message, CRDT state or change
//! log that no node or primary sent is a peer lying (a Byzantine fault), which the protocols do
//! not claim to survive, and a change log's rules span fields (an order's total is its lines'
//! sum) beyond what a schema states. Their parsers are fuzzed in `fuzz/`.
//!
//! Each service gets `LAB_SCHEMATHESIS_SECONDS` (default 8; its admin pass half), seeded
//! (`LAB_SCHEMATHESIS_SEED`) so a failure reproduces.

use crate::support;

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use support::Lab;

#[tokio::test(flavor = "multi_thread")]
async fn every_openapi_document_describes_its_service() {
    let st = std::env::var("LAB_SCHEMATHESIS").unwrap_or_else(|_| "st".into());
    let seconds: u64 =
        std::env::var("LAB_SCHEMATHESIS_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(8);
    // The admin passes cover three or four operations each: half the time covers them as well.
    let admin_seconds = seconds.div_ceil(2);
    let seed = std::env::var("LAB_SCHEMATHESIS_SEED").unwrap_or_else(|_| "20261201".into());
    let lab = Lab::up();
    let services = lab.wait_all_up().await;
    let is_control = |s: &&shared::ServiceStatus| s.kind == shared::ServiceKind::Control;
    let (control, others): (Vec<_>, Vec<_>) = services.iter().partition(is_control);
    // (service, what the pass is called after its name, seconds, schemathesis's filter)
    let mut passes: Vec<(&shared::ServiceStatus, &str, u64, Vec<&str>)> = Vec::new();
    let (main, admin) = (
        vec!["--exclude-tag-regex", "^(admin|peer)$"],
        vec!["--include-tag", "admin", "--exclude-tag", "peer"],
    );
    passes.extend(others.iter().map(|s| (*s, "", seconds, main.clone())));
    passes.extend(others.iter().map(|s| (*s, " admin", admin_seconds, admin.clone())));
    // The control plane's own routes (scenarios, test runs and workshop steps aside: each runs
    // for many seconds, breaking the lab and waiting for the effect; control_plane.rs runs each
    // scenario, recording.rs test runs and the workshop's browser test every step).
    let scenarios = vec![
        "--exclude-path",
        "/api/scenarios/{name}",
        "--exclude-path",
        "/api/tests",
        "--exclude-path",
        "/api/workshop/steps/{step}/{action}",
    ];
    passes.extend(control.iter().map(|s| (*s, "", seconds, scenarios.clone())));
    let mut failed = Vec::new();
    // schemathesis keeps a cache of what failed in `.schemathesis/` of its working directory:
    // a temporary one, not the repository.
    let scratch = tempfile::tempdir().expect("a scratch directory");
    // Straight to stderr: the test harness captures print!/eprint! of a passing test, and this
    // report belongs in `make test`'s output.
    let mut report = std::io::stderr();
    let _ = writeln!(
        report,
        "schemathesis {seconds} s per service ({admin_seconds} s for its admin routes), seed {seed}:"
    );
    for (service, pass, max_time, filter) in passes {
        let mut args: Vec<String> = [
            "run",
            &format!("{}/openapi.json", service.url),
            "--checks",
            "all",
            "--exclude-checks",
            "not_a_server_error",
            "--max-time",
            &max_time.to_string(),
            "--seed",
            &seed,
            "--request-timeout",
            "10",
            "--no-color",
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend(filter.into_iter().map(str::to_owned));
        let (st, cwd) = (st.clone(), scratch.path().to_owned());
        let run = tokio::task::spawn_blocking(move || {
            Command::new(&st).args(&args).current_dir(cwd).output()
        });
        let output = tokio::time::timeout(Duration::from_secs(180), run)
            .await
            .unwrap_or_else(|_| panic!("schemathesis on {} did not finish in 180 s", service.name))
            .unwrap()
            .unwrap_or_else(|e| panic!("cannot run schemathesis ({e}): run `make setup`"));
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let summary = stdout
            .lines()
            .rev()
            .find(|l| l.starts_with("==") && l.contains(" in "))
            .map(|l| l.trim_matches(|c| c == '=' || c == ' ').to_owned())
            .unwrap_or_else(|| "no summary".into());
        let _ = writeln!(report, "  {:<26} {summary}", format!("{}{pass}", service.name));
        if !output.status.success() {
            failed.push(format!(
                "{}{pass}:\n{stdout}\n{}",
                service.name,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "OpenAPI documents that do not describe their service:\n{}",
        failed.join("\n")
    );
}
