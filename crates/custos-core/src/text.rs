//! Caller text made safe to keep or print: cut to a bounded size with a digest of the
//! whole, and escaped for a log line.

use crate::Digest;

/// `s` cut to at most `max` bytes (at a character boundary), with its length and digest
/// when it was cut, so what was sent can still be matched.
pub fn bounded(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}… (cut: {} bytes, {})",
        &s[..end],
        s.len(),
        Digest::of_bytes(s.as_bytes())
    )
}

/// The longest caller text a log line carries.
pub const LOG_BYTES: usize = 512;

/// `s` for one log line: at most [`LOG_BYTES`] (with a digest when cut), every control
/// character (newlines included) escaped, so caller input can neither forge a line nor
/// drive a terminal.
pub fn for_log(s: &str) -> String {
    one_line(&bounded(s, LOG_BYTES))
}

/// `s` on one line, whole: every control character (newlines and carriage returns
/// included) and every bidirectional override or isolate written as a visible `\u{..}`
/// escape, so a value shown inside a command can neither fake another line nor reorder
/// what a person reads.
pub fn one_line(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escape = c.is_control()
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            let mut out = Vec::new();
            if escape {
                out.extend(c.escape_unicode());
            } else {
                out.push(c);
            }
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_line_is_bounded_and_one_line() {
        let kid = format!("a\nfake: line\u{1b}[2K{}", "k".repeat(300_000));
        let line = for_log(&kid);
        assert!(line.len() < 700, "{}", line.len());
        assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{line}");
        assert!(line.starts_with("a\\u{a}fake: line\\u{1b}[2K"), "{line}");
        assert!(line.contains(&Digest::of_bytes(kid.as_bytes()).0));
        assert_eq!(for_log("plain"), "plain");
    }
}
