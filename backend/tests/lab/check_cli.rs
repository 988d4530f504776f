//! `lab check --model M FILE`: the verdict as JSON on stdout, and in the exit code — 0 valid,
//! 1 invalid, 2 unknown (a history it cannot read, or out of time).

use std::process::Command;

fn check(model: &str, history: &str) -> (i32, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("history.jsonl");
    std::fs::write(&file, history).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(["check", "--model", model])
        .arg(&file)
        .output()
        .unwrap();
    let verdict = serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
    (output.status.code().unwrap(), verdict)
}

const LINEARIZABLE: &str = r#"{"type":"invoke","process":0,"f":"raise","value":5,"time":0}
{"type":"ok","process":0,"f":"raise","value":5,"time":10}
{"type":"invoke","process":1,"f":"read","value":null,"time":20}
{"type":"ok","process":1,"f":"read","value":5,"time":30}
"#;

/// A read that began after the raise of 5 was acknowledged, and returned the 3 before it.
const STALE: &str = r#"{"type":"invoke","process":0,"f":"raise","value":3,"time":0}
{"type":"ok","process":0,"f":"raise","value":3,"time":5}
{"type":"invoke","process":0,"f":"raise","value":5,"time":6}
{"type":"ok","process":0,"f":"raise","value":5,"time":10}
{"type":"invoke","process":1,"f":"read","value":null,"time":20}
{"type":"ok","process":1,"f":"read","value":3,"time":30}
"#;

#[test]
fn the_verdict_is_printed_and_is_the_exit_code() {
    let (code, verdict) = check("max-register", LINEARIZABLE);
    assert_eq!((code, &verdict["valid"]), (0, &serde_json::json!(true)), "{verdict}");
    assert_eq!(
        (verdict["model"].as_str(), verdict["ops"].as_u64()),
        (Some("max-register"), Some(2))
    );

    let (code, verdict) = check("max-register", STALE);
    assert_eq!((code, &verdict["valid"]), (1, &serde_json::json!(false)), "{verdict}");
    let anomalies = verdict["anomalies"].as_array().unwrap();
    assert!(anomalies.iter().any(|a| a["kind"] == "stale-read"), "{verdict}");

    let (code, verdict) = check("max-register", "{\"type\": \"invoke\"\n");
    assert_eq!((code, &verdict["valid"]), (2, &serde_json::json!("unknown")), "{verdict}");

    let output = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(["check", "--model", "max-register", "/no/such/history.jsonl"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "an unreadable file is no verdict");
    let refused =
        Command::new(env!("CARGO_BIN_EXE_lab")).args(["check", "--model", "paxos", "x"]).output();
    assert_ne!(refused.unwrap().status.code(), Some(0), "an unknown model is a usage error");
}
