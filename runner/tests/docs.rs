//! The docs tell the truth about the command line: every `windlass …` command written in
//! README.md and docs/*.md — in their shell code blocks and their inline code — parses with the
//! CLI's own clap parser (`Cli::try_parse_from`), with the flags and values written there; and
//! every command the CLI has is shown in docs/runner.md.
//!
//! `cargo run -p windlass-runner -- ARGS` counts as `windlass ARGS`. Optional parts written
//! as `[--flag VALUE]` are checked both ways: all of them given, and none. Inline code in
//! prose may leave out required arguments ("`windlass deploy` checks the file first") but
//! never names a command or flag that does not exist; `windlass …` stands for any command.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use clap::{CommandFactory as _, Parser as _};
use windlass_runner::Cli;

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// README.md and every page of docs/, as (name, text).
fn pages() -> Vec<(String, String)> {
    let mut names = vec!["README.md".to_owned()];
    let mut docs: Vec<String> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| format!("docs/{}", e.unwrap().file_name().to_string_lossy()))
        .filter(|name| name.ends_with(".md"))
        .collect();
    docs.sort();
    names.extend(docs);
    names
        .into_iter()
        .map(|name| {
            let text = std::fs::read_to_string(root().join(&name)).unwrap();
            (name, text)
        })
        .collect()
}

/// A command line found in a page: where, the text from `windlass` on, and whether it is
/// inline code in prose (which may name a command without its required arguments:
/// "`windlass deploy` checks the file first").
#[derive(Debug)]
struct Found {
    at: String,
    line: String,
    inline: bool,
}

/// The `windlass …` lines of the shell code blocks (```sh, ```bash, ```console, ```) and the
/// inline code spans of `text`.
fn command_lines(page: &str, text: &str) -> Vec<Found> {
    let mut found = Vec::new();
    let mut in_block: Option<bool> = None; // Some(is a shell block)
    for (number, line) in text.lines().enumerate() {
        let at = format!("{page}:{}", number + 1);
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            in_block = match in_block {
                Some(_) => None,
                None => Some(matches!(
                    info.trim(),
                    "" | "sh" | "bash" | "console" | "shell"
                )),
            };
            continue;
        }
        match in_block {
            Some(true) => {
                let command = trimmed.strip_prefix("$ ").unwrap_or(trimmed);
                if let Some(line) = as_windlass(command) {
                    found.push(Found {
                        at,
                        line,
                        inline: false,
                    });
                }
            }
            Some(false) => {}
            None => {
                for (i, span) in line.split('`').enumerate() {
                    // `windlass …` stands for any command.
                    if i % 2 == 1
                        && !span.contains('…')
                        && let Some(line) = as_windlass(span)
                    {
                        found.push(Found {
                            at: at.clone(),
                            line,
                            inline: true,
                        });
                    }
                }
            }
        }
    }
    found
}

/// `command` from `windlass` on, if it runs the CLI (`windlass …` or `cargo run -p
/// windlass-runner -- …`).
fn as_windlass(command: &str) -> Option<String> {
    let command = command.trim();
    if let Some(rest) = command.strip_prefix("cargo run -p windlass-runner --") {
        return Some(format!("windlass{rest}"));
    }
    // `windlass` alone is the crate's name in prose, not a command.
    let rest = command.strip_prefix("windlass ")?;
    (!rest.trim().is_empty()).then(|| command.to_owned())
}

/// The words of a command line, cut at the first shell operator (`>`, `|`, `&&`, `;`) and
/// without its comment.
fn words(line: &str) -> Vec<String> {
    let words = shlex::split(line).unwrap_or_else(|| panic!("not shell words: {line}"));
    words
        .into_iter()
        .take_while(|w| !matches!(w.as_str(), ">" | ">>" | "|" | "&&" | "||" | ";" | "2>"))
        .collect()
}

/// The command line with every `[optional part]` given, and with none.
fn variants(line: &str) -> Vec<String> {
    let all = line.replace(['[', ']'], "");
    let mut none = String::new();
    let mut depth = 0;
    for c in line.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            c if depth == 0 => none.push(c),
            _ => {}
        }
    }
    if all == none {
        vec![all]
    } else {
        vec![all, none]
    }
}

#[test]
fn every_windlass_command_in_the_docs_parses_with_the_cli_parser() {
    let mut checked = Vec::new();
    let mut failures = Vec::new();
    for (page, text) in pages() {
        for found in command_lines(&page, &text) {
            for variant in variants(&found.line) {
                let words = words(&variant);
                match Cli::try_parse_from(&words) {
                    Ok(_) => checked.push(words),
                    // Prose may leave out required arguments; the command and what is written
                    // must still exist.
                    Err(error)
                        if found.inline
                            && error.kind() == clap::error::ErrorKind::MissingRequiredArgument =>
                    {
                        checked.push(words);
                    }
                    Err(error) => {
                        failures.push(format!("{}: `{variant}`:\n{}", found.at, error.render()))
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} documented command line(s) do not parse:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Not vacuous: the README's and docs/runner.md's examples were found.
    assert!(
        checked.len() >= 20,
        "only {} command lines found",
        checked.len()
    );
    for must in [
        ["windlass", "deploy"],
        ["windlass", "ps"],
        ["windlass", "events"],
    ] {
        assert!(
            checked
                .iter()
                .any(|w| w.starts_with(&must.map(String::from))),
            "no `{}` in the docs",
            must.join(" ")
        );
    }
}

#[test]
fn every_command_of_the_cli_is_shown_in_docs_runner_md() {
    let text = std::fs::read_to_string(root().join("docs/runner.md")).unwrap();
    let shown: Vec<Vec<String>> = command_lines("docs/runner.md", &text)
        .iter()
        .map(|f| words(&f.line.replace(['[', ']'], "")))
        .collect();
    let mut missing = Vec::new();
    for command in Cli::command().get_subcommands() {
        let name = command.get_name();
        let subcommands: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
        let needed: Vec<Vec<&str>> = if subcommands.is_empty() {
            vec![vec![name]]
        } else {
            subcommands.iter().map(|s| vec![name, *s]).collect()
        };
        for words in needed {
            if !shown
                .iter()
                .any(|w| w.len() > words.len() && w[1..=words.len()] == words[..])
            {
                missing.push(format!("windlass {}", words.join(" ")));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "commands without an example in docs/runner.md: {missing:?}"
    );
}

#[test]
fn the_checker_reads_blocks_spans_options_and_comments() {
    let page = "Run `windlass ps --json` or `windlass …`\n\n```sh\nexport X=1\n$ windlass logs N [-f] [--tail 5]   # a comment\ncargo run -p windlass-runner -- config check a.toml\nwindlassd nope\n```\n\n```toml\nwindlass = \"no\"\n```\n";
    let found: Vec<String> = command_lines("p", page)
        .into_iter()
        .map(|f| f.line)
        .collect();
    assert_eq!(
        found,
        [
            "windlass ps --json",
            "windlass logs N [-f] [--tail 5]   # a comment",
            "windlass config check a.toml",
        ]
    );
    assert_eq!(
        variants(&found[1])
            .iter()
            .map(|v| words(v))
            .collect::<Vec<_>>(),
        [
            vec!["windlass", "logs", "N", "-f", "--tail", "5"],
            vec!["windlass", "logs", "N"],
        ]
    );
    assert_eq!(
        words("windlass completions bash > /etc/x"),
        ["windlass", "completions", "bash"]
    );
    assert!(Cli::try_parse_from(["windlass", "ps", "--no-such-flag"]).is_err());
}
