//! The log of a running build: lines kept in memory and counted on a watch channel, so a
//! follower reads from any line to the end without a gap or a repeat; and the build's cancel
//! switch. The store keeps the log too (written at each state change and at the end); a
//! finished build is read from there.

use std::sync::Mutex;

use futures::stream::BoxStream;
use tokio::sync::watch;

/// A build's log as a stream of lines: what was written so far, then new lines as they come,
/// ending when the build ends.
pub type LogFollow = BoxStream<'static, String>;

/// How much of a log is kept (the tail wins): a build step printing without end cannot fill
/// the engine's memory or the store.
const MAX_LOG_BYTES: usize = 4 << 20;

/// One running build.
pub(crate) struct Live {
    pub org: String,
    pub stack: String,
    pub service: String,
    pub cancel: watch::Sender<bool>,
    lines: Mutex<Lines>,
    /// Lines written so far (ever, counting dropped ones), and whether the build ended.
    progress: watch::Sender<(usize, bool)>,
}

#[derive(Default)]
struct Lines {
    kept: std::collections::VecDeque<String>,
    /// Lines dropped from the front to stay under the cap.
    dropped: usize,
    bytes: usize,
}

impl Live {
    pub(crate) fn new(org: &str, stack: &str, service: &str) -> Self {
        Self {
            org: org.to_owned(),
            stack: stack.to_owned(),
            service: service.to_owned(),
            cancel: watch::channel(false).0,
            lines: Mutex::default(),
            progress: watch::channel((0, false)).0,
        }
    }

    /// Appends a line (a trailing newline is dropped).
    pub(crate) fn line(&self, line: impl Into<String>) {
        let mut line: String = line.into();
        while line.ends_with('\n') || line.ends_with('\r') {
            line.pop();
        }
        let total = {
            let Ok(mut lines) = self.lines.lock() else {
                return;
            };
            lines.bytes += line.len() + 1;
            lines.kept.push_back(line);
            while lines.bytes > MAX_LOG_BYTES {
                let Some(front) = lines.kept.pop_front() else {
                    break;
                };
                lines.bytes -= front.len() + 1;
                lines.dropped += 1;
            }
            lines.dropped + lines.kept.len()
        };
        self.progress.send_modify(|p| p.0 = total);
    }

    /// The whole log so far, one line per line.
    pub(crate) fn text(&self) -> String {
        let Ok(lines) = self.lines.lock() else {
            return String::new();
        };
        let mut out = String::with_capacity(lines.bytes);
        for line in &lines.kept {
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    /// The last `n` lines.
    pub(crate) fn tail(&self, n: usize) -> Vec<String> {
        self.lines.lock().map_or_else(
            |_| Vec::new(),
            |l| l.kept.iter().rev().take(n).rev().cloned().collect(),
        )
    }

    /// Marks the log complete: followers end after the last line.
    pub(crate) fn finish(&self) {
        self.progress.send_modify(|p| p.1 = true);
    }

    /// Lines from number `from` on (counting dropped ones), and the next number.
    fn since(&self, from: usize) -> (Vec<String>, usize) {
        let Ok(lines) = self.lines.lock() else {
            return (Vec::new(), from);
        };
        let start = from.max(lines.dropped) - lines.dropped;
        let out: Vec<String> = lines.kept.iter().skip(start).cloned().collect();
        (out, lines.dropped + lines.kept.len())
    }

    /// Follows the log from its first kept line to the end of the build.
    pub(crate) fn follow(self: std::sync::Arc<Self>) -> LogFollow {
        let rx = self.progress.subscribe();
        let state = (
            self,
            rx,
            0usize,
            std::collections::VecDeque::<String>::new(),
        );
        Box::pin(futures::stream::unfold(
            state,
            |(live, mut rx, mut next, mut pending)| async move {
                loop {
                    if let Some(line) = pending.pop_front() {
                        return Some((line, (live, rx, next, pending)));
                    }
                    let done = rx.borrow_and_update().1;
                    let (lines, after) = live.since(next);
                    next = after;
                    if !lines.is_empty() {
                        pending.extend(lines);
                        continue;
                    }
                    if done || rx.changed().await.is_err() {
                        // Lines written just before the end were read above.
                        let (lines, after) = live.since(next);
                        if lines.is_empty() {
                            return None;
                        }
                        next = after;
                        pending.extend(lines);
                    }
                }
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn a_follower_sees_every_line_once_then_the_end() {
        let live = std::sync::Arc::new(Live::new("o", "s", "w"));
        live.line("one\n");
        let follow = live.clone().follow();
        let writer = live.clone();
        tokio::spawn(async move {
            for i in 0..100 {
                writer.line(format!("line {i}"));
                tokio::task::yield_now().await;
            }
            writer.finish();
        });
        let lines: Vec<String> = follow.collect().await;
        assert_eq!(lines.len(), 101);
        assert_eq!(lines[0], "one");
        assert_eq!(lines[100], "line 99");
        assert_eq!(live.tail(2), ["line 98", "line 99"]);
    }
}
