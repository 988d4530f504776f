//! Every service's OpenAPI document tells the truth: schemathesis (PyPI, pinned; the set-up
//! installs it into the lab's virtualenv, `LAB_SCHEMATHESIS` names its `st`) generates requests
//! from each document of a started lab — valid ones, invalid ones, and stateful sequences — and
//! checks every answer against it (`--checks all`: statuses, content types, response schemas,
//! valid data accepted, invalid data refused, 405 with `Allow`).
//!
//! A 5xx fails only when the document does not list it (`status_code_conformance`): the 503s a
//! dependency's state causes are documented and expected. The control plane runs last, in a pass
//! of its own: its actions (kill, pause, links, scenarios) are the lab's own faults and would
//! break the services tested after it; running a scenario is left to `control_plane.rs`. Each
//! service gets `LAB_SCHEMATHESIS_SECONDS` (default 8), seeded (`LAB_SCHEMATHESIS_SEED`) so a
//! failure reproduces.

mod support;

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use support::Lab;

#[tokio::test(flavor = "multi_thread")]
async fn every_openapi_document_describes_its_service() {
    let st = std::env::var("LAB_SCHEMATHESIS").unwrap_or_else(|_| "st".into());
    let seconds = std::env::var("LAB_SCHEMATHESIS_SECONDS").unwrap_or_else(|_| "8".into());
    let seed = std::env::var("LAB_SCHEMATHESIS_SEED").unwrap_or_else(|_| "20261201".into());
    let lab = Lab::up();
    let mut services = lab.wait_all_up().await;
    // The control plane last: its actions break what they touch.
    services.sort_by_key(|s| s.kind == shared::ServiceKind::Control);
    let mut failed = Vec::new();
    // schemathesis keeps a cache of what failed in `.schemathesis/` of its working directory:
    // a temporary one, not the repository.
    let scratch = tempfile::tempdir().expect("a scratch directory");
    // Straight to stderr: the test harness captures print!/eprint! of a passing test, and this
    // report belongs in `make test`'s output.
    let mut report = std::io::stderr();
    let _ = writeln!(report, "schemathesis {seconds} s per service, seed {seed}:");
    for service in services {
        let mut args: Vec<String> = [
            "run",
            &format!("{}/openapi.json", service.url),
            "--checks",
            "all",
            "--exclude-checks",
            "not_a_server_error",
            "--max-time",
            &seconds,
            "--seed",
            &seed,
            "--request-timeout",
            "10",
            "--no-color",
        ]
        .map(str::to_owned)
        .to_vec();
        if service.kind == shared::ServiceKind::Control {
            // A scenario runs for many seconds (it breaks the lab and waits for the effect):
            // control_plane.rs runs each of them.
            args.extend(["--exclude-path", "/api/scenarios/{name}"].map(str::to_owned));
        }
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
        let _ = writeln!(report, "  {:<20} {summary}", service.name);
        if !output.status.success() {
            failed.push(format!(
                "{}:\n{stdout}\n{}",
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
