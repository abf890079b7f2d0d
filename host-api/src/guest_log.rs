//! What a guest writes into the host's log: the per-call budget and the escaping.
//!
//! Every channel a guest can log through (`host.log`, stdout, stderr) has a budget per call, in
//! bytes and in lines ([`crate::Limits::log_bytes`], [`crate::Limits::log_lines`]). Past it the
//! rest of the call's output on that channel is dropped, one "truncated" line says so, and the
//! plugin's truncation counter (on `/metrics` in the runner) goes up by one.
//!
//! A guest's text is never the format of a log line: it is one field of a structured event
//! (`text`), with every control character escaped (`\n`, `\r`, `\u{1b}`...), so no plugin
//! output can start a line of its own or move the cursor of a terminal reading the log.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// How much one channel of one call may still log.
#[derive(Debug)]
pub(crate) struct LogBudget {
    plugin: Arc<str>,
    channel: &'static str,
    bytes_left: u64,
    lines_left: u64,
    limit_bytes: u64,
    limit_lines: u64,
    truncated: bool,
    /// The plugin's count of calls whose output was truncated, shared by every call.
    counter: Arc<AtomicU64>,
}

impl LogBudget {
    pub(crate) fn new(
        plugin: Arc<str>,
        channel: &'static str,
        limit_bytes: u64,
        limit_lines: u64,
        counter: Arc<AtomicU64>,
    ) -> Self {
        Self {
            plugin,
            channel,
            bytes_left: limit_bytes,
            lines_left: limit_lines,
            limit_bytes,
            limit_lines,
            truncated: false,
            counter,
        }
    }

    /// Takes `bytes` (one line) from the budget. `false` means the line must be dropped; the
    /// first refusal logs the one "truncated" line and counts it.
    pub(crate) fn take(&mut self, bytes: usize) -> bool {
        if self.truncated {
            return false;
        }
        let bytes = bytes as u64;
        if self.lines_left > 0 && bytes <= self.bytes_left {
            self.lines_left -= 1;
            self.bytes_left -= bytes;
            return true;
        }
        self.truncated = true;
        self.counter.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            target: "windlass::plugin",
            plugin = %self.plugin,
            channel = self.channel,
            limit_bytes = self.limit_bytes,
            limit_lines = self.limit_lines,
            "plugin log truncated: over its budget for one call; dropping the rest of this call's {}",
            self.channel
        );
        false
    }

    /// Whether this call's output on the channel was cut.
    #[cfg(test)]
    pub(crate) fn truncated(&self) -> bool {
        self.truncated
    }
}

/// `text` with every control character (and the Unicode line and paragraph separators)
/// escaped as Rust writes them (`\n`, `\t`, `\u{1b}`), and backslashes doubled so an escape
/// cannot be forged either. Borrowed when there is nothing to escape.
pub(crate) fn escape(text: &str) -> Cow<'_, str> {
    let needs = |c: char| c == '\\' || c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
    if !text.chars().any(needs) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("plain text, ünïcode"), "plain text, ünïcode");
        assert_eq!(
            escape("a\nINFO windlass: admin token\r\u{1b}[2K\t\u{2028}"),
            "a\\nINFO windlass: admin token\\r\\u{1b}[2K\\t\\u{2028}"
        );
        assert_eq!(escape("a\\nb"), "a\\\\nb");
    }

    #[test]
    fn the_budget_counts_bytes_and_lines_and_truncates_once() {
        let counter = Arc::new(AtomicU64::new(0));
        let mut lines = LogBudget::new("p".into(), "host.log", 1000, 2, counter.clone());
        assert!(lines.take(10));
        assert!(lines.take(10));
        assert!(!lines.take(10));
        assert!(!lines.take(10));
        assert!(lines.truncated());
        let mut bytes = LogBudget::new("p".into(), "host.log", 15, 100, counter.clone());
        assert!(bytes.take(10));
        assert!(!bytes.take(10));
        assert!(
            !bytes.take(1),
            "nothing after the marker, even if it would fit"
        );
        assert_eq!(counter.load(Ordering::Relaxed), 2);
    }
}
