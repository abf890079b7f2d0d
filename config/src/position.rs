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
