//! What clients send a node to change: a person, a number, or both, read as the original
//! project's clients write them (`POST /add_name`, Socket.IO `update_data`).

use super::paxos::GAP;

/// The largest account number a node takes (what a JSON number holds exactly in JavaScript).
pub const MAX_NUMBER: u64 = 1 << 53;

/// What a client asks a node to change: a person (a name, with or without a number), or a
/// number alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub name: Option<String>,
    pub number: Option<u64>,
}

/// Read an update as the original's clients send it: `{"name": "ana", "number": 7}`, the
/// number as a string (its page did), a name alone, or a number alone (`name` empty or null).
/// A number of 0, like none, means no account number.
pub fn parse_update(value: &serde_json::Value) -> Result<Update, String> {
    use serde_json::Value;
    const EXPECTED: &str =
        "expected {\"name\": \"...\", \"number\": N}, a name alone or a number alone";
    let object = value.as_object().ok_or(EXPECTED)?;
    let name = match object.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) if name.trim().is_empty() => None,
        Some(Value::String(name)) if name.trim().chars().count() > 100 => {
            return Err("name is longer than 100 characters".into())
        }
        Some(Value::String(name)) => Some(name.trim().to_owned()),
        Some(_) => return Err("name must be a string".into()),
    };
    let number = match object.get("number") {
        None | Some(Value::Null) => None,
        // 7.0 is the whole number 7 (JSON Schema's integer; JavaScript clients send either).
        Some(Value::Number(n)) => Some(
            n.as_u64()
                .or_else(|| {
                    let f = n
                        .as_f64()
                        .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= MAX_NUMBER as f64)?;
                    Some(f as u64)
                })
                .ok_or("number must be a whole number, 0 or more")?,
        ),
        // The original's page: a form field's digits ("" when left empty). Digits only (Rust's
        // parser alone also takes "+5"), at most 15 of them, as the schema states.
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) if s.len() <= 15 && s.bytes().all(|b| b.is_ascii_digit()) => {
            Some(s.parse::<u64>().expect("up to 15 digits fit"))
        }
        Some(Value::String(s)) => {
            return Err(format!("number must be a whole number (up to 15 digits), got {s:?}"))
        }
        Some(_) => return Err("number must be a whole number".into()),
    };
    if number.is_some_and(|n| n > MAX_NUMBER) {
        return Err(format!("number is too large (at most {MAX_NUMBER})"));
    }
    let number = number.filter(|n| *n != GAP);
    if name.is_none() && number.is_none() {
        return Err(format!("neither a name nor a number: {EXPECTED}"));
    }
    Ok(Update { name, number })
}

/// Read `update_data`'s payload: the update's object itself, or a JSON string holding it (some
/// clients send one), as [`parse_update`] reads it.
pub fn parse_update_event(payload: serde_json::Value) -> Result<Update, String> {
    let value = match payload {
        serde_json::Value::String(text) => {
            serde_json::from_str(&text).map_err(|e| format!("payload is not JSON: {e}"))?
        }
        other => other,
    };
    parse_update(&value)
}

/// An account number as clients see it: 0 is none.
pub fn number_of(number: u64) -> Option<u64> {
    (number != GAP).then_some(number)
}

#[cfg(test)]
mod tests {
    use super::{parse_update, Update};
    use serde_json::json;

    fn update(name: Option<&str>, number: Option<u64>) -> Update {
        Update { name: name.map(str::to_owned), number }
    }

    #[test]
    fn updates_are_read_as_the_original_clients_send_them() {
        let parse = |v: serde_json::Value| parse_update(&v);
        assert_eq!(parse(json!({"name": "ana", "number": 7})), Ok(update(Some("ana"), Some(7))));
        assert_eq!(
            parse(json!({"name": " ana ", "number": "42"})),
            Ok(update(Some("ana"), Some(42)))
        );
        assert_eq!(parse(json!({"name": "abcd"})), Ok(update(Some("abcd"), None)));
        assert_eq!(parse(json!({"name": "", "number": "424242"})), Ok(update(None, Some(424242))));
        assert_eq!(parse(json!({"name": null, "number": 9})), Ok(update(None, Some(9))));
        assert_eq!(parse(json!({"number": 9})), Ok(update(None, Some(9))));
        assert_eq!(parse(json!({"name": "ana", "number": ""})), Ok(update(Some("ana"), None)));
        assert_eq!(parse(json!({"name": "ana", "number": 0})), Ok(update(Some("ana"), None)));
        for neither in [
            json!({}),
            json!({"name": "", "number": ""}),
            json!({"name": "  "}),
            json!({"number": 0}),
        ] {
            assert!(parse(neither.clone()).unwrap_err().contains("neither"), "{neither}");
        }
        assert!(parse(json!({"name": "ana", "number": "abc"}))
            .unwrap_err()
            .contains("whole number"));
        for not_digits in ["+5", " 42", "4 2", "1234567890123456"] {
            let refused = parse(json!({"name": "ana", "number": not_digits}));
            assert!(refused.unwrap_err().contains("up to 15 digits"), "{not_digits:?}");
        }
        assert!(parse(json!({"name": "ana", "number": -1})).is_err());
        assert!(parse(json!({"name": "ana", "number": 1.5})).is_err());
        assert!(parse(json!({"name": 5})).unwrap_err().contains("string"));
        assert!(parse(json!({"name": "x".repeat(101)})).unwrap_err().contains("100"));
        assert!(parse(json!({"number": (1u64 << 53) + 1})).unwrap_err().contains("too large"));
        assert!(parse(json!([1, 2])).is_err());
        assert!(parse(json!("ana")).is_err());
    }
}
