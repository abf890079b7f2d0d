//! A Dockerfile reader: just enough to find the final stage's ports and start command.

use std::collections::BTreeMap;

/// What the final stage of a Dockerfile declares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Info {
    /// `EXPOSE`d ports, in order, without duplicates (numeric ones only).
    pub ports: Vec<u16>,
    /// The start command, when `ENTRYPOINT`/`CMD` make one in exec form.
    pub start: Option<Vec<String>>,
    /// The `RUN` commands of every stage, in order, for display.
    pub runs: Vec<String>,
    /// Ports that could not be read (e.g. `$PORT`), for a warning.
    pub skipped_ports: Vec<String>,
}

/// `CMD` or `ENTRYPOINT` as written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Form {
    Exec(Vec<String>),
    Shell(String),
}

/// The state of one build stage.
#[derive(Debug, Clone, Default)]
struct Stage {
    ports: Vec<u16>,
    skipped_ports: Vec<String>,
    cmd: Option<Form>,
    entrypoint: Option<Form>,
}

/// Reads `text`, a Dockerfile.
pub(crate) fn parse(text: &str) -> Info {
    let escape = escape_char(text);
    let mut stages: Vec<Stage> = Vec::new();
    let mut named: BTreeMap<String, usize> = BTreeMap::new();
    let mut runs = Vec::new();
    for (instruction, args) in instructions(text, escape) {
        match instruction.as_str() {
            "FROM" => {
                let words: Vec<&str> = args
                    .split_whitespace()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                // `FROM image [AS name]`: a stage built on an earlier stage inherits its config.
                let base = words
                    .first()
                    .and_then(|image| named.get(&image.to_ascii_lowercase()))
                    .map(|&i| stages[i].clone())
                    .unwrap_or_default();
                if let [_, as_kw, name] = words.as_slice()
                    && as_kw.eq_ignore_ascii_case("as")
                {
                    named.insert(name.to_ascii_lowercase(), stages.len());
                }
                stages.push(base);
            }
            "RUN" => runs.push(args),
            other => {
                let Some(stage) = stages.last_mut() else {
                    continue; // Nothing counts before the first FROM.
                };
                match other {
                    "EXPOSE" => expose(stage, &args),
                    "CMD" => stage.cmd = Some(form(&args)),
                    "ENTRYPOINT" => stage.entrypoint = Some(form(&args)),
                    _ => {}
                }
            }
        }
    }
    let last = stages.pop().unwrap_or_default();
    let start = match (last.entrypoint, last.cmd) {
        (Some(Form::Exec(entry)), Some(Form::Exec(cmd))) => Some([entry, cmd].concat()),
        (Some(Form::Exec(entry)), Some(Form::Shell(cmd))) => {
            Some([entry, vec!["/bin/sh".into(), "-c".into(), cmd]].concat())
        }
        (Some(Form::Exec(entry)), None) => Some(entry),
        (None, Some(Form::Exec(cmd))) => Some(cmd),
        _ => None,
    };
    Info {
        ports: last.ports,
        start: start.filter(|s| !s.is_empty()),
        runs,
        skipped_ports: last.skipped_ports,
    }
}

/// Adds the ports of `EXPOSE args` to `stage`: `80`, `80/tcp`, `53/udp`, `8000-8002`.
fn expose(stage: &mut Stage, args: &str) {
    for word in args.split_whitespace() {
        let port = word.split('/').next().unwrap_or(word);
        let (low, high) = port.split_once('-').unwrap_or((port, port));
        match (low.parse::<u16>(), high.parse::<u16>()) {
            (Ok(low), Ok(high)) if low > 0 && low <= high && high - low < 256 => {
                for p in low..=high {
                    if !stage.ports.contains(&p) {
                        stage.ports.push(p);
                    }
                }
            }
            _ => stage.skipped_ports.push(word.to_owned()),
        }
    }
}

/// Exec form (a JSON array of strings) or shell form.
fn form(args: &str) -> Form {
    let trimmed = args.trim();
    if trimmed.starts_with('[')
        && let Ok(words) = serde_json::from_str::<Vec<String>>(trimmed)
    {
        return Form::Exec(words);
    }
    Form::Shell(trimmed.to_owned())
}

/// The escape character from a `# escape=` parser directive at the top, else `\`.
fn escape_char(text: &str) -> char {
    for line in text.lines() {
        let line = line.trim();
        let Some(directive) = line.strip_prefix('#') else {
            break;
        };
        if let Some((key, value)) = directive.split_once('=')
            && key.trim().eq_ignore_ascii_case("escape")
        {
            if let Some(c) = value.trim().chars().next() {
                return c;
            }
        } else if !directive.contains('=') {
            break; // An ordinary comment ends the directives.
        }
    }
    '\\'
}

/// The instructions of `text` as (upper-case keyword, arguments), continuation lines joined
/// and comments dropped.
fn instructions(text: &str, escape: char) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && !current.is_empty()) {
            continue; // Comments and blank lines may sit inside a continued instruction.
        }
        if let Some(body) = trimmed.strip_suffix(escape) {
            current.push_str(body);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let full = std::mem::take(&mut current);
        let full = full.trim();
        if full.is_empty() {
            continue;
        }
        let (keyword, args) = full.split_once(char::is_whitespace).unwrap_or((full, ""));
        out.push((keyword.to_ascii_uppercase(), args.trim().to_owned()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple() {
        let info = parse(
            "FROM node:20-slim\nWORKDIR /app\nCOPY . .\nRUN npm ci\nEXPOSE 3000\nCMD [\"node\", \"server.js\"]\n",
        );
        assert_eq!(info.ports, [3000]);
        assert_eq!(
            info.start,
            Some(vec!["node".to_owned(), "server.js".to_owned()])
        );
        assert_eq!(info.runs, ["npm ci"]);
    }

    #[test]
    fn shell_form_is_not_a_start_command() {
        let info = parse("FROM alpine\nCMD node server.js\n");
        assert_eq!(info.start, None);
        let info = parse("FROM alpine\nENTRYPOINT exec ./app\nCMD [\"--x\"]\n");
        assert_eq!(info.start, None);
    }

    #[test]
    fn entrypoint_and_cmd() {
        let info = parse("FROM alpine\nENTRYPOINT [\"/app\"]\nCMD [\"--port\", \"80\"]\n");
        assert_eq!(
            info.start,
            Some(vec!["/app".into(), "--port".into(), "80".into()])
        );
        let info = parse("FROM alpine\nENTRYPOINT [\"/app\"]\n");
        assert_eq!(info.start, Some(vec!["/app".into()]));
        let info = parse("from alpine\nentrypoint [\"/app\"]\ncmd serve\n");
        assert_eq!(
            info.start,
            Some(vec![
                "/app".into(),
                "/bin/sh".into(),
                "-c".into(),
                "serve".into()
            ])
        );
    }

    #[test]
    fn expose_forms() {
        let info = parse("FROM x\nEXPOSE 80/tcp 53/udp 8000-8002 $PORT 80\nEXPOSE 443\n");
        assert_eq!(info.ports, [80, 53, 8000, 8001, 8002, 443]);
        assert_eq!(info.skipped_ports, ["$PORT"]);
        let info = parse("FROM x\nEXPOSE 0 70000 1-65535\n");
        assert!(info.ports.is_empty());
    }

    #[test]
    fn final_stage_wins_and_inherits() {
        let text = "\
FROM golang:1.22 AS build
EXPOSE 9999
RUN go build -o /app .
CMD [\"/build-only\"]

FROM gcr.io/distroless/static AS runtime
EXPOSE 8080
ENTRYPOINT [\"/app\"]

FROM runtime
EXPOSE 9090
";
        let info = parse(text);
        assert_eq!(info.ports, [8080, 9090]);
        assert_eq!(info.start, Some(vec!["/app".into()]));
        assert_eq!(info.runs, ["go build -o /app ."]);
    }

    #[test]
    fn continuations_comments_and_escape() {
        let text = "\
# syntax=docker/dockerfile:1
FROM alpine
RUN apk add \\
    # a comment inside
    curl \\
    git
EXPOSE \\
  8080
CMD [\"sh\", \\
     \"-c\", \"echo hi\"]
";
        let info = parse(text);
        assert_eq!(info.runs.len(), 1);
        assert!(info.runs[0].contains("curl") && info.runs[0].contains("git"));
        assert_eq!(info.ports, [8080]);
        assert_eq!(
            info.start,
            Some(vec!["sh".into(), "-c".into(), "echo hi".into()])
        );

        let text = "# escape=`\nFROM mcr.microsoft.com/windows\nRUN dir `\n  c:\\\nEXPOSE 80\n";
        let info = parse(text);
        assert_eq!(info.runs, ["dir  c:\\"]);
        assert_eq!(info.ports, [80]);
    }

    #[test]
    fn empty_and_garbage() {
        assert_eq!(parse(""), Info::default());
        assert_eq!(parse("EXPOSE 80\nCMD [\"x\"]"), Info::default());
        let info = parse("FROM x\nCMD [\"unterminated\"\n");
        assert_eq!(info.start, None);
    }
}
