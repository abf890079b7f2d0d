//! Where something is in the config file: byte offsets turned into line and column, and the
//! key path (`plugins[1].limits.memory_mib`) of the entry at an offset.
//!
//! The toml crate reports its errors with a byte range and nothing else we can use; this
//! module finds the line, the column and the key for that range, so that every error reads
//! `file:line:column: key: message`.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// A position in a config file: `file:line:column`, both counted from 1, the column in
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The config file, as it was named to [`load`](super::load) or [`parse`](super::parse).
    pub file: PathBuf,
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1, in characters (not bytes).
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// The 1-based line and character column of byte `offset` in `text`. An offset past the end
/// is the end; one inside a multi-byte character is that character.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Writes a key path the way the docs and errors spell keys: `plugins[1].limits.fuel`, with
/// keys that are not bare TOML keys quoted (`config."log level"`).
fn render(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Index(i) => out.push_str(&format!("[{i}]")),
            Step::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                let bare = !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if bare {
                    out.push_str(key);
                } else {
                    out.push_str(&format!("{key:?}"));
                }
            }
        }
    }
    out
}

/// The key path of the entry at `span` in `text`: the innermost key or value whose span
/// contains the start of `span`, or failing that the innermost entry that starts before it
/// (the section being written, for a syntax error). `None` when the text has no entry before
/// the offset at all.
///
/// Works on documents with syntax errors too: the toml parser recovers what it can.
pub(crate) fn key_at(text: &str, span: &Range<usize>) -> Option<String> {
    let (table, _errors) = DeTable::parse_recoverable(text);
    let offset = span.start;
    let mut path = Vec::new();
    let hit = |s: &Range<usize>| s.contains(&offset) || (s.is_empty() && s.start == offset);
    if find(table.get_ref(), &hit, &hit, &mut path) {
        return Some(render(&path));
    }
    if let Some(header) = header_on_line(text, offset) {
        return Some(header);
    }
    path.clear();
    preceding(table.get_ref(), text, offset, &mut path);
    (!path.is_empty()).then(|| render(&path))
}

/// The name in a table header (`[health`, `[[plugins]]`) on the line of `offset`, for a
/// header the parser could not recover.
fn header_on_line(text: &str, offset: usize) -> Option<String> {
    let start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("").trim();
    let name = line.strip_prefix('[')?.trim_start_matches('[');
    let name = name.split(']').next().unwrap_or(name).trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// The key path of the table whose span is exactly `span` (the toml crate reports a missing
/// key at the table that lacks it); `None` for the top-level table.
pub(crate) fn table_at(text: &str, span: &Range<usize>) -> Option<String> {
    let (table, _errors) = DeTable::parse_recoverable(text);
    let mut path = Vec::new();
    let same = |s: &Range<usize>| s == span;
    let never = |_: &Range<usize>| false;
    find(table.get_ref(), &never, &same, &mut path).then(|| render(&path))
}

type Matches<'f> = &'f dyn Fn(&Range<usize>) -> bool;

/// Pushes the path of the innermost entry whose key span satisfies `key` or whose value span
/// satisfies `value`; false when there is none.
///
/// Table spans cover only their header (`[engine]`), not the keys below it, so every entry is
/// searched, not only those whose span matches.
fn find(table: &DeTable<'_>, key: Matches<'_>, value: Matches<'_>, path: &mut Vec<Step>) -> bool {
    for (k, v) in table.iter() {
        path.push(Step::Key(k.get_ref().to_string()));
        if find_in(v, key, value, path) || key(&k.span()) || value(&v.span()) {
            return true;
        }
        path.pop();
    }
    false
}

/// Looks inside a value: the entries of a table, the elements of an array.
fn find_in(
    v: &Spanned<DeValue<'_>>,
    key: Matches<'_>,
    value: Matches<'_>,
    path: &mut Vec<Step>,
) -> bool {
    match v.get_ref() {
        DeValue::Table(table) => find(table, key, value, path),
        DeValue::Array(array) => {
            for (i, element) in array.iter().enumerate() {
                path.push(Step::Index(i));
                if find_in(element, key, value, path) || value(&element.span()) {
                    return true;
                }
                path.pop();
            }
            false
        }
        _ => false,
    }
}

/// Pushes the path of the innermost section (table or array element) that starts last before
/// `offset`, and the plain key that starts last before it on the same line, if any.
fn preceding(table: &DeTable<'_>, text: &str, offset: usize, path: &mut Vec<Step>) {
    let last = table
        .iter()
        .filter(|(key, _)| key.span().start <= offset)
        .max_by_key(|(key, _)| key.span().start);
    let Some((key, value)) = last else {
        return;
    };
    let name = Step::Key(Cow::as_ref(key.get_ref()).to_owned());
    match value.get_ref() {
        DeValue::Table(inner) => {
            path.push(name);
            preceding(inner, text, offset, path);
        }
        DeValue::Array(array)
            if array
                .iter()
                .all(|element| matches!(element.get_ref(), DeValue::Table(_))) =>
        {
            path.push(name);
            let last = array
                .iter()
                .enumerate()
                .filter(|(_, element)| element.span().start <= offset)
                .max_by_key(|(_, element)| element.span().start);
            if let Some((i, element)) = last {
                path.push(Step::Index(i));
                if let DeValue::Table(inner) = element.get_ref() {
                    preceding(inner, text, offset, path);
                }
            }
        }
        _ => {
            let between = text.get(key.span().start..offset).unwrap_or("\n");
            if !between.contains('\n') {
                path.push(name);
            }
        }
    }
}

/// The full key path of a key the toml crate refused as a duplicate, whose last part is at
/// `span` (the crate reports only that part: `id` of `[engine] id = …` written twice): the
/// section or inline table it is in, the dotted parts before it on its line, and the part
/// itself — `engine.id`, `plugins[0].limits.fuel`. A table header written twice is its whole
/// name (`engine`). `None` when the text around the span is not a key.
pub(crate) fn duplicate_key(text: &str, span: &Range<usize>) -> Option<String> {
    let mut parts = vec![unquote(text.get(span.clone())?)];
    let mut at = span.start;
    // The dotted parts before it: `limits . fuel` → `limits`.
    loop {
        let before = text[..at].trim_end_matches([' ', '\t']);
        let Some(rest) = before.strip_suffix('.') else {
            at = before.len();
            break;
        };
        let rest = rest.trim_end_matches([' ', '\t']);
        let start = last_key_part(rest)?;
        parts.push(unquote(&rest[start..]));
        at = start;
    }
    parts.reverse();
    let keys = || {
        parts
            .iter()
            .map(|p| Step::Key(p.clone()))
            .collect::<Vec<_>>()
    };
    let before = &text[..at];
    let on_line = before.rsplit('\n').next().unwrap_or("").trim_start();
    let prefix = match on_line.chars().last() {
        // A key at the start of its line: the section it is written in.
        None => section_before(text, at.saturating_sub(on_line.len())),
        // A table header (`[a.b]`, `[[x]]`): its name is the whole key.
        Some('[') if on_line.trim_start_matches('[').is_empty() => None,
        // A key of an inline table: that table's path.
        Some('{' | ',') => {
            let brace = before.trim_end().len() - 1;
            Some(key_at(text, &(brace..brace + 1))?)
        }
        Some(_) => return None,
    };
    let key = render(&keys());
    Some(match prefix {
        Some(prefix) => format!("{prefix}.{key}"),
        None => key,
    })
}

/// The path of the section (`[table]` or `[[array]]` element) whose header is the last one
/// before `offset`; `None` at the top level.
fn section_before(text: &str, offset: usize) -> Option<String> {
    let mut line_end = offset;
    loop {
        let start = text[..line_end.saturating_sub(1)]
            .rfind('\n')
            .map_or(0, |i| i + 1);
        let line = &text[start..line_end];
        if line.trim_start().starts_with('[') {
            let header = start + (line.len() - line.trim_start().len());
            return key_at(text, &(header..header + 1));
        }
        if start == 0 {
            return None;
        }
        line_end = start;
    }
}

/// Where the last key part of `text` starts: a bare key (`a-z`, `0-9`, `_`, `-`) or a quoted
/// one (`"log level"`, `'log level'`).
fn last_key_part(text: &str) -> Option<usize> {
    if let Some(quote) = text.chars().last().filter(|c| matches!(c, '"' | '\'')) {
        return text[..text.len() - 1].rfind(quote);
    }
    let start = text
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        .last()
        .map(|(i, _)| i)?;
    Some(start)
}

/// A key part as written, without its quotes (escapes in basic strings are left as written).
fn unquote(part: &str) -> String {
    let part = part.trim();
    for quote in ['"', '\''] {
        if let Some(inner) = part.strip_prefix(quote).and_then(|p| p.strip_suffix(quote)) {
            return inner.to_owned();
        }
    }
    part.to_owned()
}

/// Parses a key path as [`render`] writes it (`services[1].env.DATABASE_URL`,
/// `config."log level"`); `None` when it is not one.
fn parse_path(path: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('[') {
            let end = inner.find(']')?;
            steps.push(Step::Index(inner[..end].parse().ok()?));
            rest = &inner[end + 1..];
            continue;
        }
        if !steps.is_empty() {
            rest = rest.strip_prefix('.')?;
        }
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut key = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => key.push(chars.next()?.1),
                    (_, c) => key.push(c),
                }
            };
            steps.push(Step::Key(key));
            rest = &quoted[end + 1..];
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            if end == 0 {
                return None;
            }
            steps.push(Step::Key(rest[..end].to_owned()));
            rest = &rest[end..];
        }
    }
    Some(steps)
}

/// The byte offset in `text` of the value at key path `path` (`services[0].memory`), or of
/// the deepest part of the path the text has (`services[0]` when it has no `memory`): the
/// value for a key, the header for a section, the element for an array entry. `None` when
/// the path is not a key path or not even its first part is there. A text with errors is
/// read as far as the parser recovers (the first of two duplicate keys is there).
pub(crate) fn offset_of(text: &str, path: &str) -> Option<usize> {
    let steps = parse_path(path)?;
    // Recoverable, so that a duplicate key's first definition is found in a refused text.
    let (table, _errors) = DeTable::parse_recoverable(text);
    let root = Spanned::new(table.span(), DeValue::Table(table.into_inner()));
    let mut current = &root;
    let mut found = None;
    for step in &steps {
        let next = match (step, current.get_ref()) {
            (Step::Key(key), DeValue::Table(table)) => table
                .iter()
                .find(|(k, _)| k.get_ref().as_ref() == key.as_str())
                .map(|(_, v)| v),
            (Step::Index(i), DeValue::Array(array)) => array.get(*i),
            _ => None,
        };
        let Some(next) = next else { break };
        found = Some(next.span().start);
        current = next;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_count_from_one_in_characters() {
        let text = "a = 1\nname = \"é\" x\n\nlast";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 4), (1, 5));
        assert_eq!(line_column(text, 5), (1, 6)); // the newline itself
        assert_eq!(line_column(text, 6), (2, 1));
        let x = text.find('x').unwrap();
        assert_eq!(line_column(text, x), (2, 12)); // `é` is two bytes, one column
        assert_eq!(line_column(text, x - 3), (2, 9)); // inside `é`: that character
        assert_eq!(line_column(text, text.find("last").unwrap()), (4, 1));
        assert_eq!(line_column(text, 10_000), (4, 5)); // past the end: the end
        assert_eq!(line_column("", 3), (1, 1));
    }

    fn key(text: &str, needle: &str) -> Option<String> {
        let start = text.find(needle).unwrap();
        key_at(text, &(start..start + needle.len()))
    }

    #[test]
    fn finds_the_key_of_a_value_in_sections_arrays_and_inline_tables() {
        let text = "[engine]\nid = \"x\"\n\n[[plugins]]\nname = \"a\"\n\n[[plugins]]\nname = \"b\"\nlimits = { memory_mib = 32, fuel = \"lots\" }\n[plugins.config]\n\"log level\" = 3\n";
        assert_eq!(key(text, "\"x\"").as_deref(), Some("engine.id"));
        assert_eq!(key(text, "id").as_deref(), Some("engine.id"));
        assert_eq!(key(text, "[engine]").as_deref(), Some("engine"));
        assert_eq!(key(text, "\"b\"").as_deref(), Some("plugins[1].name"));
        assert_eq!(
            key(text, "\"lots\"").as_deref(),
            Some("plugins[1].limits.fuel")
        );
        assert_eq!(
            key(text, "3\n").as_deref(),
            Some("plugins[1].config.\"log level\"")
        );
        let second = text.rfind("[[plugins]]").unwrap();
        assert_eq!(
            key_at(text, &(second..second + 11)).as_deref(),
            Some("plugins[1]")
        );
    }

    fn duplicate(text: &str) -> Option<String> {
        let error = toml::from_str::<toml::Table>(text).unwrap_err();
        assert_eq!(error.message(), "duplicate key", "{text}");
        duplicate_key(text, &error.span().unwrap())
    }

    #[test]
    fn a_duplicate_key_is_named_with_its_whole_path() {
        let cases = [
            ("[engine]\nid = \"a\"\nid = \"b\"\n", "engine.id"),
            ("[engine]\nid = \"a\"\n\n[engine]\nid = \"b\"\n", "engine"),
            ("[a.b]\n[a . b]\n", "a.b"),
            (
                "[engine]\nlimits.x = 1\nlimits . x = 2\n",
                "engine.limits.x",
            ),
            ("engine = { id = \"a\", id = \"b\" }\n", "engine.id"),
            (
                "[engine]\n\"log level\" = 1\n'log level' = 2\n",
                "engine.\"log level\"",
            ),
            ("[engine]\nx = 1\n[engine.x]\n", "engine.x"),
            ("top = 1\ntop = 2\n", "top"),
            (
                "[[plugins]]\nname = \"a\"\n[[plugins]]\nname = \"b\"\nlimits = { fuel = 1, fuel = 2 }\n",
                "plugins[1].limits.fuel",
            ),
            (
                "[[plugins]]\nname = \"a\"\n\n[plugins.config]\nk = \"1\"\n  k = \"2\"\n",
                "plugins[0].config.k",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(duplicate(text).as_deref(), Some(expected), "{text}");
        }
    }

    #[test]
    fn a_key_path_leads_to_its_value_or_to_the_deepest_part_written() {
        let text = "volumes = [\"data\"]\n\n[[services]]\nname = \"web\"\n\n[[services]]\nname = \"db\"\nmemory = \"lots\"\nenv = { \"A B\" = \"1\" }\n";
        let at = |path: &str| offset_of(text, path).map(|o| line_column(text, o));
        assert_eq!(at("services[1].memory"), Some((8, 10)));
        assert_eq!(at("services[1].env.\"A B\""), Some((9, 17)));
        assert_eq!(at("services[1].image"), Some((6, 1)));
        assert_eq!(at("services[0]"), Some((3, 1)));
        assert_eq!(at("volumes[0]"), Some((1, 12)));
        assert_eq!(at("params.x"), None);
        assert_eq!(at("services[x]"), None);
        assert_eq!(offset_of("not = [toml", "other"), None);
    }

    #[test]
    fn falls_back_to_the_section_being_written() {
        let text = "[engine]\nid = \"x\"\n\n[store]\nurl = \"sqlite://a.db\" x\n\n   \n";
        let blank = text.rfind("   ").unwrap();
        assert_eq!(key_at(text, &(blank..blank)).as_deref(), Some("store"));
        let x = text.rfind('x').unwrap();
        assert_eq!(key_at(text, &(x..x)).as_deref(), Some("store.url"));
        assert_eq!(key_at("\n\n", &(1..1)), None);
        let header = "[engine]\nid = \"x\"\n\n[health\nwarning_percent = 70\n";
        let at = header.find("[health").unwrap() + 7;
        assert_eq!(key_at(header, &(at..at)).as_deref(), Some("health"));
    }
}
