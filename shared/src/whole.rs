//! Whole numbers as JSON Schema defines them: `2` and `2.0` are both the integer 2 (an `integer`
//! schema accepts both, and clients written in JavaScript send either). Use with
//! `#[serde(deserialize_with = "crate::whole::number")]` on integer fields of request bodies.

use serde::de::{Deserializer, Error, Visitor};

/// The largest integer every JSON client holds exactly (2^53).
const EXACT: f64 = 9_007_199_254_740_992.0;

/// Read an unsigned integer written as `7` or `7.0`, into any type it fits.
pub fn number<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    struct Whole;
    impl Visitor<'_> for Whole {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a whole number, 0 or more")
        }
        fn visit_u64<E: Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom(format!("{v} is below 0")))
        }
        fn visit_f64<E: Error>(self, v: f64) -> Result<u64, E> {
            if v.fract() != 0.0 || !(0.0..=EXACT).contains(&v) {
                return Err(E::custom(format!("{v} is not a whole number from 0 to 2^53")));
            }
            Ok(v as u64)
        }
    }
    let value = deserializer.deserialize_any(Whole)?;
    T::try_from(value).map_err(|_| D::Error::custom(format!("{value} is too large")))
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    struct Q {
        #[serde(deserialize_with = "super::number")]
        n: u32,
    }

    fn read(json: &str) -> Result<u32, String> {
        serde_json::from_str::<Q>(json).map(|q| q.n).map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_with_or_without_a_fraction_part() {
        assert_eq!(read(r#"{"n": 7}"#), Ok(7));
        assert_eq!(read(r#"{"n": 7.0}"#), Ok(7));
        assert!(read(r#"{"n": 7.5}"#).unwrap_err().contains("whole"));
        assert!(read(r#"{"n": -1}"#).is_err());
        assert!(read(r#"{"n": 5000000000}"#).unwrap_err().contains("too large"));
        assert!(read(r#"{"n": "7"}"#).is_err());
    }
}

/// An optional field that, when given, must hold a value: `null` is refused rather than read as
/// absent (for schemas whose optional fields are not nullable). Use with `#[serde(default)]`.
pub fn given<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// A whole number in a URL path (`/products/7`, and `/products/7.0`, which a client that treats
/// the parameter as a JSON Schema integer may send).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathNumber(pub u64);

impl<'de> serde::Deserialize<'de> for PathNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let whole = text.strip_suffix(".0").unwrap_or(&text);
        whole
            .parse::<u64>()
            .map(PathNumber)
            .map_err(|_| D::Error::custom(format!("{text:?} is not a whole number, 0 or more")))
    }
}

#[cfg(test)]
mod path_tests {
    use super::PathNumber;
    use serde::de::value::{Error, StrDeserializer};
    use serde::de::IntoDeserializer;
    use serde::Deserialize;

    fn read(text: &str) -> Result<u64, Error> {
        let de: StrDeserializer<'_, Error> = text.into_deserializer();
        PathNumber::deserialize(de).map(|n| n.0)
    }

    #[test]
    fn path_numbers_with_or_without_a_zero_fraction() {
        assert_eq!(read("7").unwrap(), 7);
        assert_eq!(read("7.0").unwrap(), 7);
        assert!(read("7.5").is_err());
        assert!(read("-1").is_err());
        assert!(read("x").is_err());
    }
}
