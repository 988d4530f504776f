//! The sync node's `update_data` / `add_name` payloads (`parse_update_event`, `parse_update`):
//! never a panic, and every update accepted keeps the documented rules — a name trimmed,
//! non-empty and at most 100 characters, or a number from 1 to 2^53 (0 is "no number"), at
//! least one of the two — and says what the payload said.

use serde_json::Value;

use backend::sync_node::node::{parse_update, parse_update_event, Update, MAX_NUMBER};

use super::harness::{fuzz, gist, Verdict};

const WORDS: &[&str] = &["\"name\"", "\"number\"", "\"max_number\"", " ", "\\t", "\\n", "\\u00a0"];

/// The rules an accepted update keeps, and agreement with the payload's own fields.
fn accepted(object: &Value, update: &Update) -> Result<(), String> {
    if update.name.is_none() && update.number.is_none() {
        return Err("accepted with neither a name nor a number".into());
    }
    if let Some(name) = &update.name {
        if name.is_empty() || name.trim() != name || name.chars().count() > 100 {
            return Err(format!("accepted the name {name:?}: not trimmed, empty or too long"));
        }
        let sent = object.get("name").and_then(Value::as_str).map(str::trim);
        if sent != Some(name.as_str()) {
            return Err(format!("the name {name:?} is not the payload's {sent:?}, trimmed"));
        }
    }
    if let Some(number) = update.number {
        if number == 0 || number > MAX_NUMBER {
            return Err(format!("accepted the number {number}: outside 1..=2^53"));
        }
        let sent = match object.get("number") {
            // 7.0 is the whole number 7 (JSON Schema's integer).
            Some(Value::Number(n)) => n
                .as_u64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64)),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        if sent != Some(number) {
            return Err(format!("the number {number} is not the payload's {sent:?}"));
        }
    }
    Ok(())
}

/// A name alone that keeps the rules is never refused.
fn refused(object: &Value, why: &str) -> Result<(), String> {
    let name = object.get("name").and_then(Value::as_str).map(str::trim);
    let plain_name = name.is_some_and(|n| !n.is_empty() && n.chars().count() <= 100);
    let no_number = object.get("number").is_none_or(Value::is_null);
    if plain_name && no_number {
        return Err(format!("refused a plain name ({why})"));
    }
    Ok(())
}

fn judge(object: &Value, verdict: &Result<Update, String>) -> Result<String, String> {
    match verdict {
        Ok(update) => {
            accepted(object, update)?;
            Ok(format!(
                "accepted name={} number={}",
                update.name.is_some(),
                update.number.is_some()
            ))
        }
        Err(why) => {
            refused(object, why)?;
            Ok(format!("refused: {}", gist(why, 40)))
        }
    }
}

fn check(input: &[u8]) -> Verdict {
    // What socketioxide hands the handler: the event's argument as JSON.
    let Ok(payload) = serde_json::from_slice::<Value>(input) else {
        return Ok("not JSON".into());
    };
    // The object the parser reads: the payload, or the JSON inside a string payload.
    let object = match &payload {
        Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        other => other.clone(),
    };
    let event = judge(&object, &parse_update_event(payload.clone()))?;
    // `add_name` reads the body itself (no string form).
    let body = judge(&payload, &parse_update(&payload))?;
    Ok(format!("{event} / {body}"))
}

#[test]
fn fuzz_sync_updates() {
    fuzz("sync_updates", WORDS, || (), |(), input| check(input));
}
