//! Aligned tables for people: columns two spaces apart, colours only on a terminal (never
//! with NO_COLOR), and text from servers kept from rewriting the terminal.

use std::io::IsTerminal;

pub const RESET: &str = "\x1b[0m";
pub const BOLD: &str = "\x1b[1m";
pub const RED: &str = "\x1b[31m";
pub const GREEN: &str = "\x1b[32m";
pub const YELLOW: &str = "\x1b[33m";

/// Whether to colour the human output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    /// Colours only when stdout is a terminal and NO_COLOR is not set to a non-empty value
    /// (no-color.org).
    pub fn detect() -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: !no_color && std::io::stdout().is_terminal(),
        }
    }

    pub fn plain() -> Style {
        Style { color: false }
    }

    pub fn paint(&self, code: &str, text: &str) -> String {
        if self.color && !code.is_empty() && !text.is_empty() {
            format!("{code}{text}{RESET}")
        } else {
            text.to_string()
        }
    }
}

/// Text that came from a server (a holder's host or command, a key's name) may hold anything;
/// control characters would let it rewrite the operator's terminal, so they become `?`.
pub fn clean(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// One table cell: its text and the colour it is painted in.
pub struct Cell {
    pub text: String,
    pub color: &'static str,
}

pub fn cell(text: impl Into<String>) -> Cell {
    Cell {
        text: clean(&text.into()),
        color: "",
    }
}

pub fn painted(text: impl Into<String>, color: &'static str) -> Cell {
    Cell {
        text: clean(&text.into()),
        color,
    }
}

pub enum Row {
    /// Aligned cells.
    Cells(Vec<Cell>),
    /// An aligned first cell, then text running to the end of the line (an error).
    Span(Cell, Cell),
}

/// Align `rows` in columns two spaces apart; painting never changes a width.
pub fn table(rows: &[Row], style: Style) -> String {
    let mut widths: Vec<usize> = vec![];
    for row in rows {
        let cells: &[Cell] = match row {
            Row::Cells(cells) => cells,
            Row::Span(first, _) => std::slice::from_ref(first),
        };
        for (i, c) in cells.iter().enumerate() {
            let w = c.text.chars().count();
            match widths.get_mut(i) {
                Some(old) => *old = (*old).max(w),
                None => widths.push(w),
            }
        }
    }
    let mut out = String::new();
    for row in rows {
        let cells: Vec<&Cell> = match row {
            Row::Cells(cells) => cells.iter().collect(),
            Row::Span(first, rest) => vec![first, rest],
        };
        // Trailing empty cells print nothing, so no line ends in spaces.
        let last = cells
            .iter()
            .rposition(|c| !c.text.is_empty())
            .map_or(0, |i| i + 1);
        let mut line = String::new();
        for (i, c) in cells[..last].iter().enumerate() {
            line.push_str(&style.paint(c.color, &c.text));
            if i + 1 < last {
                let pad = widths
                    .get(i)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(c.text.chars().count());
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

pub fn header(names: &[&str]) -> Row {
    Row::Cells(names.iter().map(|n| painted(*n, BOLD)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_lines_end_without_spaces() {
        let rows = vec![
            Row::Cells(vec![cell("a"), cell("bb"), cell("")]),
            Row::Cells(vec![cell("ccc"), cell("d"), cell("e")]),
            Row::Span(cell("f"), cell("error: long text")),
        ];
        assert_eq!(
            table(&rows, Style::plain()),
            "a    bb\nccc  d   e\nf    error: long text\n"
        );
    }

    #[test]
    fn colour_does_not_change_alignment() {
        let rows = vec![
            Row::Cells(vec![painted("a", RED), cell("x")]),
            Row::Cells(vec![cell("bbb"), cell("y")]),
        ];
        let text = table(&rows, Style { color: true });
        assert_eq!(text, "\x1b[31ma\x1b[0m    x\nbbb  y\n");
    }

    #[test]
    fn control_characters_from_servers_are_neutralised() {
        assert_eq!(clean("web\x1b[2J-3\n"), "web?[2J-3?");
    }
}
