//! The terminal: the two streams gljob writes, and the rules that keep text it did not write
//! (job fields, GitLab's messages, archive entry names) from forging its output.
//!
//! Three rules, each in one place:
//! - [`escape`] shows every control character visibly (`\n`, `\u{1b}`, `\u{202e}`), so
//!   server or archive text put into a line of gljob's cannot end that line, add a row,
//!   move the cursor, clear the screen or flip the text after it. It is applied to each
//!   piece of such text, and again to each line of an error report, which is safe because
//!   escaping escaped text changes nothing.
//! - [`json`] writes the characters a terminal acts on but JSON leaves raw (DEL, C1, bidi
//!   controls) as `\uXXXX`. [`stdout`] applies it to everything, so every `--json` output is
//!   covered without each command remembering to.
//! - [`add_secret`] registers the job token; [`stdout`] and [`stderr`] print any occurrence
//!   of it as `[REDACTED]`, whoever composed the text (a server echoing the token in an
//!   error message included).
//!
//! This module depends on nothing else in gljob, so `error` and `output` can both use it.

use std::borrow::Cow;
use std::io::Write;
use std::sync::RwLock;

/// What a registered secret is printed as.
pub const REDACTED: &str = "[REDACTED]";

/// Secrets to redact from everything printed; set once at startup from the configuration.
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Whether `c` must not reach a terminal raw: C0 (tab and newline included), DEL, C1, the
/// bidi controls (embeddings and overrides U+202A–U+202E, isolates U+2066–U+2069, the marks
/// U+200E, U+200F and U+061C, which reorder text as well) and the Unicode line and
/// paragraph separators (some log viewers break lines there).
pub fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200e}' | '\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}')
}

/// Text gljob did not write, made safe to show: each [`is_unsafe`] character becomes a
/// visible escape in Rust's notation, the one gljob's `{:?}`-quoted names already use:
/// `\n`, `\r`, `\t`, `\0`, else `\u{hex}` (`\u{1b}`, `\u{85}`, `\u{202e}`). Everything else,
/// printable Unicode included, is kept.
///
/// A backslash is kept as is, on purpose: escaping it (`\\`) would make the function change
/// its own output, so text escaped where it was composed would be mangled when a line is
/// escaped again as a whole; and it would alter ordinary `--field` values (a Windows path,
/// a regex) that scripts read. The price is that a literal backslash followed by `n` looks
/// like an escaped newline. That can mislead a reader but not forge a line, and `--json` is
/// exact; archive entry names cannot hold backslashes at all (the archive rules refuse them).
pub fn escape(text: &str) -> String {
    if !text.chars().any(is_unsafe) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if is_unsafe(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// JSON for a terminal: DEL, C1 and the other [`is_unsafe`] characters that JSON allows raw
/// in strings are written as `\uXXXX` (serde_json already escapes C0, and a body GitLab
/// sent cannot hold raw C0: it would not be JSON). In valid JSON these characters can only
/// occur inside strings, where the escape means the very same character, so the document
/// keeps its meaning and, but for these characters, its bytes.
pub fn json(text: &str) -> Cow<'_, str> {
    // C0 is left to serde_json (and is JSON's own whitespace between values).
    let raw_in_json = |c: char| is_unsafe(c) && c >= '\u{7f}';
    if !text.chars().any(raw_in_json) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if raw_in_json(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Registers a secret (the job token) that must never be printed. Called once where the
/// configuration is read, before anything can print; empty strings are ignored.
pub fn add_secret(secret: &str) {
    if secret.is_empty() {
        return;
    }
    let mut secrets = SECRETS.write().unwrap_or_else(|p| p.into_inner());
    if !secrets.iter().any(|s| s == secret) {
        secrets.push(secret.to_string());
    }
}

/// `bytes` with every registered secret replaced by [`REDACTED`]. Bytes, not text, so that
/// nothing printed escapes it for being invalid UTF-8. `[REDACTED]` holds no character JSON
/// treats specially, so a redacted JSON string stays valid JSON.
pub fn redact(bytes: &[u8]) -> Cow<'_, [u8]> {
    let secrets = SECRETS.read().unwrap_or_else(|p| p.into_inner());
    let mut out = Cow::Borrowed(bytes);
    for secret in secrets.iter().map(String::as_bytes) {
        if !out.windows(secret.len()).any(|w| w == secret) {
            continue;
        }
        let mut replaced = Vec::with_capacity(out.len());
        let mut rest: &[u8] = &out;
        while let Some(at) = rest.windows(secret.len()).position(|w| w == secret) {
            replaced.extend_from_slice(&rest[..at]);
            replaced.extend_from_slice(REDACTED.as_bytes());
            rest = &rest[at + secret.len()..];
        }
        replaced.extend_from_slice(rest);
        out = Cow::Owned(replaced);
    }
    out
}

/// Writes data to stdout: `--json` bodies, `--field` values, summaries, listings, help.
/// Secrets are redacted, and any DEL, C1 or bidi character still raw is written as a JSON
/// escape ([`json`]): by now only JSON can hold one (human text was escaped piece by piece
/// with [`escape`]), so every `--json` output gets the rule here. A closed pipe
/// (`gljob job --json | head -c1`) is not an error.
///
/// `fetch --file` does not come here: it writes the artifact's own bytes, unchanged.
pub fn stdout(bytes: &[u8]) -> std::io::Result<()> {
    let escaped: Cow<'_, [u8]> = match std::str::from_utf8(bytes).map(json) {
        Ok(Cow::Owned(text)) => Cow::Owned(text.into_bytes()),
        // Nothing to escape, or not UTF-8 (gljob prints only UTF-8): redacted all the same.
        Ok(Cow::Borrowed(_)) | Err(_) => Cow::Borrowed(bytes),
    };
    let safe = redact(&escaped);
    let mut out = std::io::stdout().lock();
    match out.write_all(&safe).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Writes to stderr (errors, warnings, progress, debug lines), with secrets redacted, and
/// ignores failures: there is nowhere else to report them. The caller escapes what it did
/// not write; the text may hold gljob's own control sequences (colour, the progress line's
/// `\r`), which is why this cannot escape it wholesale.
pub fn stderr(text: &str) {
    let _ = std::io::stderr().lock().write_all(&redact(text.as_bytes()));
}

/// Whether stderr may carry colour: a terminal, and `NO_COLOR` unset (no-color.org).
pub fn color() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_shows_c0_with_the_usual_names_and_the_rest_as_code_points() {
        assert_eq!(escape("a\nb\tc\rd\0e"), r"a\nb\tc\rd\0e");
        assert_eq!(
            escape("\u{1}\u{7}\u{8}\u{b}\u{c}\u{1f}"),
            r"\u{1}\u{7}\u{8}\u{b}\u{c}\u{1f}"
        );
        assert_eq!(
            escape("\u{1b}[2J\u{1b}]8;;x\u{7}"),
            r"\u{1b}[2J\u{1b}]8;;x\u{7}"
        );
    }

    #[test]
    fn escape_covers_del_and_c1() {
        assert_eq!(escape("\u{7f}"), r"\u{7f}");
        for c in '\u{80}'..='\u{9f}' {
            assert_eq!(escape(&c.to_string()), format!("\\u{{{:x}}}", c as u32));
        }
        // NEL and CSI: a terminal takes them for a newline and an escape sequence.
        assert_eq!(escape("a\u{85}b\u{9b}2J"), r"a\u{85}b\u{9b}2J");
    }

    #[test]
    fn escape_covers_every_bidi_control_and_line_separator() {
        let bidi = [
            '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200e}', '\u{200f}', '\u{61c}', '\u{2028}', '\u{2029}',
        ];
        for c in bidi {
            let shown = escape(&format!("x{c}y"));
            assert_eq!(shown, format!("x\\u{{{:x}}}y", c as u32));
        }
    }

    #[test]
    fn escape_keeps_printable_text_backslashes_and_its_own_output() {
        let plain = "dist/app ü 日本 🙂 \"quoted\" C:\\new 100%";
        assert_eq!(escape(plain), plain);
        // Neighbours of the ranges are printable and kept.
        assert_eq!(
            escape("\u{a0}\u{2027}\u{202f}\u{2065}\u{206a}"),
            "\u{a0}\u{2027}\u{202f}\u{2065}\u{206a}"
        );
        // Escaping escaped text changes nothing, so a line may be escaped again whole.
        let once = escape("a\nb\u{202e}c\u{1b}");
        assert_eq!(escape(&once), once);
        // Nothing escaped can end a line.
        assert!(!escape("x\ny\r\n").contains(['\n', '\r']));
    }

    #[test]
    fn json_escapes_what_serde_json_leaves_raw_and_keeps_the_rest() {
        let value = serde_json::json!({"name": "a\u{85}b\u{202e}c\u{7f}\n\u{1b}ü\\"});
        let text = value.to_string();
        assert!(text.contains('\u{85}'), "serde_json leaves C1 raw: {text}");
        let safe = json(&text);
        assert_eq!(safe, r#"{"name":"a\u0085b\u202ec\u007f\n\u001bü\\"}"#);
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, value, "the same document");
        assert!(matches!(json("{\"a\": 1}\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn secrets_are_redacted_wherever_they_occur() {
        add_secret("");
        add_secret("glcbt-unit-test-secret-1");
        add_secret("glcbt-unit-test-secret-1");
        assert_eq!(
            redact(b"token glcbt-unit-test-secret-1, again glcbt-unit-test-secret-1.").as_ref(),
            b"token [REDACTED], again [REDACTED]."
        );
        assert!(matches!(redact(b"nothing here"), Cow::Borrowed(_)));
        // Not UTF-8: redacted all the same.
        assert_eq!(
            redact(b"\xff glcbt-unit-test-secret-1\xfe").as_ref(),
            b"\xff [REDACTED]\xfe"
        );
    }
}
