//! A small ordered JSON value, printed the way ZooKeeper's AdminServer prints it (Jackson's
//! default pretty printer: `"key" : value`, two-space indents, arrays on one line, `[ ]` and
//! `{ }` when empty), so that a reply reads the same from either server. Keys keep the order
//! they were added in: ZooKeeper's replies put a command's own keys before `command` and `error`.

use std::fmt::Write as _;

/// A JSON value whose objects keep their insertion order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Real(f64),
    Text(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// An empty object, to be filled with [`Json::put`].
    pub fn object() -> Json {
        Json::Object(Vec::new())
    }

    /// Adds (or replaces, keeping its place) `key` in an object; does nothing to other values.
    pub fn put(&mut self, key: impl Into<String>, value: impl Into<Json>) {
        if let Json::Object(entries) = self {
            let key = key.into();
            let value = value.into();
            match entries.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = value,
                None => entries.push((key, value)),
            }
        }
    }

    /// The value under `key`, if this is an object that has it.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The pretty-printed text, without a final newline.
    pub fn pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out
    }

    fn write(&self, out: &mut String, nesting: usize) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(value) => {
                let _ = write!(out, "{value}");
            }
            Json::Int(value) => {
                let _ = write!(out, "{value}");
            }
            Json::Real(value) if value.is_finite() => out.push_str(&java_double(*value)),
            Json::Real(_) => out.push_str("null"),
            Json::Text(text) => write_string(out, text),
            Json::Array(items) if items.is_empty() => out.push_str("[ ]"),
            Json::Array(items) => {
                // Arrays do not indent: their items follow one another on the line.
                out.push_str("[ ");
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push_str(", ");
                    }
                    item.write(out, nesting);
                }
                out.push_str(" ]");
            }
            Json::Object(entries) if entries.is_empty() => out.push_str("{ }"),
            Json::Object(entries) => {
                out.push('{');
                for (index, (key, value)) in entries.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    newline(out, nesting + 1);
                    write_string(out, key);
                    out.push_str(" : ");
                    value.write(out, nesting + 1);
                }
                newline(out, nesting);
                out.push('}');
            }
        }
    }
}

fn newline(out: &mut String, nesting: usize) {
    out.push('\n');
    out.extend(std::iter::repeat_n(' ', 2 * nesting));
}

fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Java's `Double.toString`: the shortest digits that read back the same, a whole number
/// keeping its `.0`, and computerized scientific notation (`1.2345678E7`) at 10^7 and above or
/// below 10^-3.
pub fn java_double(value: f64) -> String {
    let magnitude = value.abs();
    if !value.is_finite() {
        return if value.is_nan() {
            "NaN".into()
        } else if value > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if magnitude != 0.0 && !(1e-3..1e7).contains(&magnitude) {
        let scientific = format!("{value:e}");
        let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_string()
        } else {
            format!("{mantissa}.0")
        };
        return format!("{mantissa}E{exponent}");
    }
    if value.fract() == 0.0 {
        format!("{value:.1}")
    } else {
        format!("{value}")
    }
}

impl From<bool> for Json {
    fn from(value: bool) -> Json {
        Json::Bool(value)
    }
}

impl From<i64> for Json {
    fn from(value: i64) -> Json {
        Json::Int(value)
    }
}

impl From<u64> for Json {
    fn from(value: u64) -> Json {
        Json::Int(i64::try_from(value).unwrap_or(i64::MAX))
    }
}

impl From<usize> for Json {
    fn from(value: usize) -> Json {
        Json::Int(i64::try_from(value).unwrap_or(i64::MAX))
    }
}

impl From<f64> for Json {
    fn from(value: f64) -> Json {
        Json::Real(value)
    }
}

impl From<&str> for Json {
    fn from(value: &str) -> Json {
        Json::Text(value.to_owned())
    }
}

impl From<String> for Json {
    fn from(value: String) -> Json {
        Json::Text(value)
    }
}

impl<T: Into<Json>> From<Vec<T>> for Json {
    fn from(items: Vec<T>) -> Json {
        Json::Array(items.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(value: Option<T>) -> Json {
        value.map_or(Json::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_jackson() {
        let mut stats = Json::object();
        stats.put("packets_sent", 5i64);
        stats.put("avg_latency", 29.25);
        let mut connection = Json::object();
        connection.put("remote_socket_address", "127.0.0.1:43996");
        connection.put("interest_ops", 1i64);
        let mut reply = Json::object();
        reply.put("server_stats", stats);
        reply.put("connections", Json::Array(vec![connection]));
        reply.put("secure_connections", Json::Array(vec![]));
        reply.put("ids", vec![1i64, 2]);
        reply.put("empty", Json::object());
        reply.put("command", "stats");
        reply.put("error", Json::Null);
        assert_eq!(
            reply.pretty(),
            "{\n  \"server_stats\" : {\n    \"packets_sent\" : 5,\n    \"avg_latency\" : 29.25\n  },\n  \
             \"connections\" : [ {\n    \"remote_socket_address\" : \"127.0.0.1:43996\",\n    \
             \"interest_ops\" : 1\n  } ],\n  \"secure_connections\" : [ ],\n  \"ids\" : [ 1, 2 ],\n  \
             \"empty\" : { },\n  \"command\" : \"stats\",\n  \"error\" : null\n}"
        );
    }

    #[test]
    fn put_replaces_in_place_and_strings_are_escaped() {
        let mut reply = Json::object();
        reply.put("error", "first");
        reply.put("command", "leader");
        reply.put("error", "quote \" backslash \\ tab \t bell \u{7}");
        assert_eq!(
            reply.pretty(),
            "{\n  \"error\" : \"quote \\\" backslash \\\\ tab \\t bell \\u0007\",\n  \
             \"command\" : \"leader\"\n}"
        );
        assert_eq!(reply.get("command"), Some(&Json::from("leader")));
    }

    #[test]
    fn doubles_print_like_java() {
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(2.0), "2.0");
        assert_eq!(java_double(2.6304), "2.6304");
        assert_eq!(java_double(9_999_999.0), "9999999.0");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(java_double(12_345_678.0), "1.2345678E7");
        assert_eq!(java_double(-2.5e10), "-2.5E10");
        assert_eq!(java_double(0.001), "0.001");
        assert_eq!(java_double(0.0001), "1.0E-4");
        assert_eq!(java_double(f64::INFINITY), "Infinity");
        assert_eq!(Json::Real(f64::NAN).pretty(), "null");
    }
}
