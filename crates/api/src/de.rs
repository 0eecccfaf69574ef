//! Tolerant field decoders for what the API really sends: `null` where a value is documented,
//! numbers as strings and strings as numbers, IDs of either type, booleans as 0/1.
//!
//! A scalar of the wrong JSON type is taken where its meaning is clear (`2024` as the text
//! `"2024"`, `"1"` as the code 1, `1` as `true`); what still makes no sense (a negative count, a
//! list where a number belongs) is an error of that field, which [`Items`] turns into one skipped
//! item instead of a failed answer.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

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
    Flag(bool),
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
        Some(NumberOrString::Flag(b)) => Err(D::Error::custom(format!("count {b} is a boolean"))),
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
        Some(NumberOrString::Float(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
            Ok(Some(f as i64))
        }
        Some(NumberOrString::Float(f)) => {
            Err(D::Error::custom(format!("status {f} is not an integer")))
        }
        Some(NumberOrString::Text(s)) if s.trim().is_empty() => Ok(None),
        Some(NumberOrString::Text(s)) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| D::Error::custom(format!("status {s:?} is not an integer"))),
        Some(NumberOrString::Flag(b)) => Ok(Some(i64::from(b))),
    }
}

/// Text sent as a string, a number or a boolean; `null` or missing is empty. IDs and names
/// (an integer `Alias`, an integer `OldCertId`) read the same whatever their JSON type.
pub fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match Option::<NumberOrString>::deserialize(deserializer)? {
        None => String::new(),
        Some(NumberOrString::Unsigned(n)) => n.to_string(),
        Some(NumberOrString::Signed(n)) => n.to_string(),
        Some(NumberOrString::Float(f)) => f.to_string(),
        Some(NumberOrString::Text(s)) => s,
        Some(NumberOrString::Flag(b)) => b.to_string(),
    })
}

/// A domain as the API (or an operator) writes it, in the one form every comparison uses: trimmed,
/// lower case, without a trailing dot; `None` when nothing is left. Pure.
pub fn normalize_domain(text: &str) -> Option<String> {
    let domain = text.trim().trim_end_matches('.').to_ascii_lowercase();
    (!domain.is_empty()).then_some(domain)
}

/// The domains one string of a domain field names, as the API writes them: one domain, or
/// several joined with commas (`"tencent.com,www.tencent.online,www.qq.com"`, the official
/// `DescribeHostUploadUpdateRecordDetail` example), each possibly with a CDN HTTPS billing switch
/// after a `|` (`"cdn.tencent.com.cn|on"`, the official `DescribeHostDeployRecordDetail` CDN
/// example, as `DeployCertificateInstance` takes CDN domains), white space, upper case or a
/// trailing dot; each [normalised](normalize_domain), empty ones left out. The names of
/// [`written_domains`].
pub fn domains_in(text: &str) -> impl Iterator<Item = String> + '_ {
    written_domains(text).map(|(name, _billing_off)| name)
}

/// The domains one string of a domain field names (as [`domains_in`] reads them), each with
/// whether it is written with the CDN HTTPS billing switch off (`"cdn2.tencent.com|off"`: tccli's
/// `DeployCertificateInstance` documents `Domain|计费开关`, the billing switch, and deploy details
/// echo it). `|on`, anything else after the `|`, or no switch at all is `false`. The one place a
/// domain string is split.
pub fn written_domains(text: &str) -> impl Iterator<Item = (String, bool)> + '_ {
    text.split(',').filter_map(|part| {
        let (name, switch) = part.split_once('|').unwrap_or((part, ""));
        normalize_domain(name).map(|name| (name, switch.trim().eq_ignore_ascii_case("off")))
    })
}

/// A list of names (`Domains`): a list of strings, or one string where the meaning is clear;
/// `null` is empty. Entries that are not strings name nothing and are left out.
pub fn names<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(
        match Option::<serde_json::Value>::deserialize(deserializer)? {
            Some(serde_json::Value::Array(items)) => items
                .into_iter()
                .filter_map(|item| match item {
                    serde_json::Value::String(s) => Some(s),
                    _ => None,
                })
                .collect(),
            Some(serde_json::Value::String(s)) => vec![s],
            _ => Vec::new(),
        },
    )
}

/// A yes/no field sent as a boolean, 0/1, or `"true"`/`"false"`/`"0"`/`"1"`; `null` is `None`.
pub fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    use serde::de::Error;
    match Option::<NumberOrString>::deserialize(deserializer)? {
        None => Ok(None),
        Some(NumberOrString::Flag(b)) => Ok(Some(b)),
        Some(NumberOrString::Unsigned(n)) if n <= 1 => Ok(Some(n == 1)),
        Some(NumberOrString::Text(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            other => Err(D::Error::custom(format!("{other:?} is not a yes/no value"))),
        },
        Some(_) => Err(D::Error::custom("not a yes/no value")),
    }
}

/// Text sent as a string, a number or a boolean (`null` is empty), as a type (for [`Lenient`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        text(deserializer).map(Text)
    }
}

/// A field decoded on its own: a value that cannot be understood is kept as its error instead of
/// failing the whole item, so an optional field of a newer API version (`Tags`, `HostingConfig`,
/// …) written in an unexpected shape costs only itself. `null` or missing is `T::default()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Lenient<T>(pub Result<T, String>);

impl<T: Default> Default for Lenient<T> {
    fn default() -> Self {
        Lenient(Ok(T::default()))
    }
}

impl<T> Lenient<T> {
    /// The value, `None` when it could not be understood.
    pub fn value(&self) -> Option<&T> {
        self.0.as_ref().ok()
    }

    /// Why the value could not be understood, if it could not.
    pub fn error(&self) -> Option<&str> {
        self.0.as_ref().err().map(String::as_str)
    }
}

impl<'de, T: DeserializeOwned + Default> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Lenient(match Value::deserialize(deserializer)? {
            Value::Null => Ok(T::default()),
            value => T::deserialize(&value).map_err(|e| e.to_string()),
        }))
    }
}

/// An item of a list that could not be understood, named by the first identifier it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedItem {
    /// The item's `Id`, `CertificateId`, `TaskId`, … when it has one; else `#<position>`.
    pub id: String,
    /// Why it could not be decoded.
    pub error: String,
}

/// Fields that name an item, most specific first.
const ITEM_ID_KEYS: &[&str] = &["CertificateId", "TaskId", "Id", "CertId", "InstanceId"];

impl SkippedItem {
    /// Describes `item` (at `position` in its list) as skipped for `error`.
    pub fn of(item: &Value, position: usize, error: impl std::fmt::Display) -> SkippedItem {
        let id = ITEM_ID_KEYS
            .iter()
            .find_map(|key| match item.get(*key) {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            })
            .unwrap_or_else(|| format!("#{position}"));
        SkippedItem {
            id,
            error: error.to_string(),
        }
    }
}

/// A list decoded item by item: one item that cannot be understood costs only itself.
///
/// `null` or missing is an empty list; anything but a list or `null` is an error of the answer's
/// shape (the documented top-level shape is missing).
#[derive(Debug, Clone, PartialEq)]
pub struct Items<T> {
    /// The items that decoded, in answer order.
    pub items: Vec<T>,
    /// The items that did not, with their IDs.
    pub skipped: Vec<SkippedItem>,
}

impl<T> Default for Items<T> {
    fn default() -> Self {
        Items {
            items: Vec::new(),
            skipped: Vec::new(),
        }
    }
}

impl<T> Items<T> {
    /// Every item received, decoded or not.
    pub fn received(&self) -> usize {
        self.items.len() + self.skipped.len()
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Items<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let values = Option::<Vec<Value>>::deserialize(deserializer)?.unwrap_or_default();
        let mut out = Items::default();
        for (position, value) in values.into_iter().enumerate() {
            match T::deserialize(&value) {
                Ok(item) => out.items.push(item),
                Err(error) => out.skipped.push(SkippedItem::of(&value, position, error)),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_as_the_api_writes_them() {
        let cases: &[(&str, &[&str])] = &[
            // DescribeHostUploadUpdateRecordDetail, official example and the seed page.
            (
                "tencent.com,www.tencent.online,www.qq.com",
                &["tencent.com", "www.tencent.online", "www.qq.com"],
            ),
            // DescribeHostDeployRecordDetail CDN example; DeployCertificateInstance's input forms.
            ("cdn.tencent.com.cn|on", &["cdn.tencent.com.cn"]),
            ("cdn2.tencent.com|off", &["cdn2.tencent.com"]),
            // Wildcards stay as written (the prober skips them, visibly).
            ("*.live.tencent.com", &["*.live.tencent.com"]),
            // Plain names of every other example.
            ("clb.tencent.com", &["clb.tencent.com"]),
            // Forms the reference page warns of: case, trailing dots, white space, empty parts.
            (" WWW.Example.COM. ", &["www.example.com"]),
            (
                "a.example.com , b.example.com.|on,, ",
                &["a.example.com", "b.example.com"],
            ),
            ("", &[]),
            ("|on", &[]),
        ];
        for (written, expected) in cases {
            let got: Vec<String> = domains_in(written).collect();
            assert_eq!(got, *expected, "{written:?}");
        }
    }

    #[test]
    fn the_billing_switch_is_read_with_each_domain() {
        let got: Vec<(String, bool)> = written_domains(
            "cdn.tencent.com.cn|on, cdn2.tencent.com|OFF ,plain.example.com,x.example.com|other",
        )
        .collect();
        let want = [
            ("cdn.tencent.com.cn", false),
            ("cdn2.tencent.com", true),
            ("plain.example.com", false),
            ("x.example.com", false),
        ];
        assert_eq!(got.len(), want.len());
        for ((name, off), (want_name, want_off)) in got.iter().zip(want) {
            assert_eq!((name.as_str(), *off), (want_name, want_off));
        }
        assert_eq!(
            written_domains("|off").count(),
            0,
            "a switch without a name names nothing"
        );
    }

    #[derive(Deserialize, Debug)]
    struct Sample {
        #[serde(default, deserialize_with = "count")]
        n: u64,
        #[serde(default, deserialize_with = "opt_code")]
        status: Option<i64>,
        #[serde(default, deserialize_with = "text")]
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
    fn wrong_scalar_types_are_taken_where_the_meaning_is_clear() {
        let s = parse(r#"{"status":1.0,"id":true}"#).expect("ok");
        assert_eq!((s.status, s.id.as_str()), (Some(1), "true"));
        let s = parse(r#"{"status":"","id":2024}"#).expect("ok");
        assert_eq!((s.status, s.id.as_str()), (None, "2024"));
        assert!(parse(r#"{"status":"running"}"#).is_err());
        #[derive(Deserialize, Debug)]
        struct Flags {
            #[serde(default, deserialize_with = "flag")]
            a: Option<bool>,
        }
        for (json, want) in [
            (r#"{"a":1}"#, Some(true)),
            (r#"{"a":"false"}"#, Some(false)),
            (r#"{"a":null}"#, None),
            (r#"{"a":true}"#, Some(true)),
        ] {
            let flags: Flags = serde_json::from_str(json).expect(json);
            assert_eq!(flags.a, want, "{json}");
        }
        assert!(serde_json::from_str::<Flags>(r#"{"a":7}"#).is_err());
    }

    #[test]
    fn an_item_that_cannot_be_understood_costs_only_itself() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Row {
            #[serde(rename = "Id", deserialize_with = "text")]
            id: String,
            #[serde(rename = "Count", default, deserialize_with = "count")]
            count: u64,
        }
        let items: Items<Row> = serde_json::from_str(
            r#"[{"Id":1,"Count":2},{"Id":"x","Count":-1},{"Count":[]},{"Id":"z"}]"#,
        )
        .expect("a list");
        assert_eq!(items.items.len(), 2);
        assert_eq!(items.received(), 4);
        assert_eq!(items.skipped[0].id, "x");
        assert_eq!(items.skipped[1].id, "#2", "no ID: named by position");
        let none: Items<Row> = serde_json::from_str("null").expect("null is empty");
        assert_eq!(none.received(), 0);
        assert!(serde_json::from_str::<Items<Row>>(r#"{"Id":1}"#).is_err());
    }

    #[test]
    fn a_lenient_field_keeps_its_error_and_never_fails_the_item() {
        #[derive(Deserialize, Debug)]
        struct Row {
            #[serde(rename = "Id", deserialize_with = "text")]
            id: String,
            #[serde(rename = "Names", default)]
            names: Lenient<Vec<Text>>,
        }
        let row: Row = serde_json::from_str(r#"{"Id":1,"Names":["a",2]}"#).expect("ok");
        assert_eq!(row.id, "1");
        assert_eq!(
            row.names.value().map(Vec::len),
            Some(2),
            "scalars read as text"
        );
        for absent in [r#"{"Id":1}"#, r#"{"Id":1,"Names":null}"#] {
            let row: Row = serde_json::from_str(absent).expect("ok");
            assert_eq!(row.names.value().map(Vec::len), Some(0), "{absent}");
        }
        let row: Row = serde_json::from_str(r#"{"Id":1,"Names":{"a":1}}"#).expect("item kept");
        assert_eq!(row.names.value(), None);
        assert!(row.names.error().is_some());
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
