//! Lenient field decoders for what the API really sends: `null` where a value is documented,
//! numbers as strings, IDs as numbers or strings.

use serde::{Deserialize, Deserializer};

/// `null` or missing becomes `T::default()`.
pub fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Text(String),
}

/// A count: a non-negative integer, possibly as a string; `null` is 0. Negative, fractional,
/// non-numeric or out-of-range values are errors rather than silently wrong numbers.
pub fn count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    use serde::de::Error;
    match Option::<NumberOrString>::deserialize(deserializer)? {
        None => Ok(0),
        Some(NumberOrString::Unsigned(n)) => Ok(n),
        Some(NumberOrString::Signed(n)) => Err(D::Error::custom(format!("negative count {n}"))),
        Some(NumberOrString::Float(f)) => {
            Err(D::Error::custom(format!("count {f} is not an integer")))
        }
        Some(NumberOrString::Text(s)) => s
            .trim()
            .parse::<u64>()
            .map_err(|_| D::Error::custom(format!("count {s:?} is not a non-negative integer"))),
    }
}

/// A small status code: integer or numeric string; `null` is `None`.
pub fn opt_code<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error;
    match Option::<NumberOrString>::deserialize(deserializer)? {
        None => Ok(None),
        Some(NumberOrString::Unsigned(n)) => i64::try_from(n)
            .map(Some)
            .map_err(|_| D::Error::custom("status code out of range")),
        Some(NumberOrString::Signed(n)) => Ok(Some(n)),
        Some(NumberOrString::Float(f)) => {
            Err(D::Error::custom(format!("status {f} is not an integer")))
        }
        Some(NumberOrString::Text(s)) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| D::Error::custom(format!("status {s:?} is not an integer"))),
    }
}

/// An identifier sent as a number or a string; `null` is empty.
pub fn id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match Option::<NumberOrString>::deserialize(deserializer)? {
        None => String::new(),
        Some(NumberOrString::Unsigned(n)) => n.to_string(),
        Some(NumberOrString::Signed(n)) => n.to_string(),
        Some(NumberOrString::Float(f)) => f.to_string(),
        Some(NumberOrString::Text(s)) => s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug)]
    struct Sample {
        #[serde(default, deserialize_with = "count")]
        n: u64,
        #[serde(default, deserialize_with = "opt_code")]
        status: Option<i64>,
        #[serde(default, deserialize_with = "id")]
        id: String,
        #[serde(default, deserialize_with = "null_default")]
        list: Vec<String>,
    }

    fn parse(s: &str) -> Result<Sample, serde_json::Error> {
        serde_json::from_str(s)
    }

    #[test]
    fn accepts_numbers_strings_and_nulls() {
        let s = parse(r#"{"n":"12","status":"3","id":57,"list":null}"#).expect("ok");
        assert_eq!(
            (s.n, s.status, s.id.as_str(), s.list.len()),
            (12, Some(3), "57", 0)
        );
        let s = parse(r#"{"n":null,"status":null,"id":null}"#).expect("ok");
        assert_eq!((s.n, s.status, s.id.as_str()), (0, None, ""));
        let s = parse("{}").expect("ok");
        assert_eq!(s.n, 0);
    }

    #[test]
    fn rejects_negative_fractional_and_huge_counts() {
        assert!(parse(r#"{"n":-1}"#).is_err());
        assert!(parse(r#"{"n":1.5}"#).is_err());
        assert!(parse(r#"{"n":"abc"}"#).is_err());
        assert!(parse(r#"{"n":1e300}"#).is_err());
        assert!(parse(r#"{"n":"99999999999999999999999"}"#).is_err());
        assert!(parse(r#"{"status":18446744073709551615}"#).is_err());
    }
}
