//! The CLI's tables (`ps`, `stacks`, `plugins`), drawn by `comfy-table` in the plain style of
//! `docker ps`: a header row, columns two spaces apart, no borders, nothing wrapped (a long
//! image name stays whole, so the output can be cut and grepped), no trailing spaces.

use comfy_table::{ContentArrangement, presets};

/// A table being filled.
#[derive(Debug)]
pub(crate) struct Table {
    inner: comfy_table::Table,
}

impl Table {
    /// A table with these column headers.
    pub(crate) fn new(headers: &[&str]) -> Self {
        let mut inner = comfy_table::Table::new();
        inner
            .load_style(presets::NOTHING)
            .set_content_arrangement(ContentArrangement::Disabled)
            .set_header(headers.iter().copied());
        for column in inner.column_iter_mut() {
            column.set_padding((0, 2));
        }
        Self { inner }
    }

    /// Adds a row (as many cells as headers).
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.inner.add_row(cells);
    }

    /// The table as text, one line per row.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        for line in self.inner.lines() {
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// Prints the table on stdout.
    pub(crate) fn print(&self) {
        print!("{}", self.render());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_padded_to_the_widest_cell() {
        let mut table = Table::new(&["NAME", "STATE"]);
        table.row(vec!["wl_a_web_0".into(), "running".into()]);
        table.row(vec!["b".into(), "exited".into()]);
        assert_eq!(
            table.render(),
            "NAME        STATE\nwl_a_web_0  running\nb           exited\n"
        );
    }

    #[test]
    fn wide_characters_count_as_their_width_and_long_cells_are_never_wrapped() {
        let mut table = Table::new(&["NAME", "IMAGE"]);
        let image = format!("registry.invalid/{}:1", "x".repeat(300));
        table.row(vec!["日本".into(), image.clone()]);
        table.row(vec!["abcdef".into(), "-".into()]);
        let text = table.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[1], format!("日本    {image}"));
        assert_eq!(lines[2], "abcdef  -");
    }
}
