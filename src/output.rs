//! What gljob prints: `--field` values and the pieces of human summaries.
//!
//! Data goes to stdout, everything else to stderr, both through [`crate::term`]. Every value
//! taken from a server is passed through [`escape`] here, as a piece, before it is put into
//! a line, so a hostile job name cannot add a row, move the cursor or flip the text.
//! `--field` values are escaped the same way: they are read one per line by scripts
//! (`X=$(gljob job --field name)`), and a raw newline would forge the next value. `--json`
//! bodies are written as received, but for what [`crate::term::stdout`] does to every
//! output (C1 and bidi as `\uXXXX`, the token redacted).

use serde_json::Value;

use crate::error::{Failure, Kind, fail};
use crate::term::escape;

/// Resolves every `--field` path first, then renders them one per line, so a missing path
/// prints nothing and fails with exit 6. Strings are escaped ([`escape`]) so that each value
/// is exactly one line; objects and arrays are compact JSON, whose C0 serde_json escapes.
pub fn fields(body: &Value, paths: &[String]) -> Result<String, Failure> {
    let mut out = String::new();
    for path in paths {
        let value = lookup(body, path).ok_or_else(|| {
            let keys = match body {
                Value::Object(map) => map.keys().cloned().collect::<Vec<_>>().join(", "),
                _ => String::new(),
            };
            fail(Kind::NotFound, format!("--field {path}: no such field in the response"))
                .detail(format!("top-level fields: {}", escape(&keys)))
                .hint("paths use dots for objects and numbers for array items: pipeline.id, user.username, tag_list.0; --json shows the whole body")
        })?;
        match value {
            Value::String(s) => out.push_str(&escape(s)),
            // Compact JSON: serde_json escaped C0, and term::stdout escapes C1 and bidi
            // JSON's way; `escape`'s notation would make it invalid JSON.
            other => out.push_str(&render(other)),
        }
        out.push('\n');
    }
    Ok(out)
}

/// Walks a dot path: object keys by name, array items by index.
pub fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, part| match v {
        Value::Object(map) => map.get(part),
        Value::Array(items) => items.get(part.parse::<usize>().ok()?),
        _ => None,
    })
}

/// Strings raw, `null` as nothing, everything else as compact JSON.
fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A value for a human summary: strings raw, `null`/missing as `-`, escaped for the terminal.
pub fn show(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".to_string(),
        Some(Value::String(s)) if s.is_empty() => "-".to_string(),
        Some(v) => escape(&render(v)),
    }
}

/// Formats a byte count for people: `812 B`, `1.5 KiB`, `3.2 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Left-aligned `label  value` lines, labels padded to the longest.
pub fn table(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(label, value)| format!("{label:width$}  {value}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_render_by_type() {
        let body = json!({"pipeline": {"id": 6}, "user": {"username": "root"}, "tag_list": ["a b", "c"],
                          "coverage": null, "tag": false, "runner": {"id": 1}});
        let paths = [
            "pipeline.id",
            "user.username",
            "tag_list.0",
            "coverage",
            "tag",
            "runner",
            "tag_list",
        ];
        let paths: Vec<String> = paths.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            fields(&body, &paths).unwrap(),
            "6\nroot\na b\n\nfalse\n{\"id\":1}\n[\"a b\",\"c\"]\n"
        );
    }

    #[test]
    fn missing_field_is_not_found_and_named() {
        let body = json!({"pipeline": {"id": 6}});
        let err = fields(&body, &["pipeline.nope".to_string()]).unwrap_err();
        assert_eq!(err.kind, Kind::NotFound);
        assert!(err.title.contains("pipeline.nope"));
        assert!(lookup(&body, "pipeline.id.x").is_none());
        assert!(lookup(&json!([1]), "5").is_none());
    }

    #[test]
    fn fields_and_summary_values_are_one_line_each() {
        let body = json!({"name": "a\nb\u{202e}", "list": ["x\ny\u{85}"], "n": null});
        let paths: Vec<String> = ["name", "list", "n"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        // Strings escaped; compact JSON keeps its own escapes (C1 is left to term::stdout).
        assert_eq!(
            fields(&body, &paths).unwrap(),
            "a\\nb\\u{202e}\n[\"x\\ny\u{85}\"]\n\n"
        );
        assert_eq!(show(body.get("name")), "a\\nb\\u{202e}");
        assert_eq!(show(body.get("n")), "-");
    }

    #[test]
    fn byte_counts_for_people() {
        assert_eq!(bytes(812), "812 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
    }
}
