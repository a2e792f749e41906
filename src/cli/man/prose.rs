//! The man pages' own text, beyond what clap knows: a few plain blocks (paragraphs, tagged
//! items, lines shown as typed) kept as data, so each page's text reads as text and the roff
//! escaping is done in one place.

use clap_mangen::roff::{bold, roman, Roff};

/// One block of text.
pub enum Block {
    /// A paragraph.
    Para(&'static str),
    /// A tagged paragraph (`.TP`): a term in bold, then what it means.
    Item(&'static str, &'static str),
    /// Lines shown as typed, indented and unfilled: a message, a command, a JSON document.
    Lines(&'static [&'static str]),
}

/// A titled section of a page (`.SH`).
pub struct Section {
    pub title: &'static str,
    pub blocks: &'static [Block],
}

/// Renders `blocks`; `first` tells whether a paragraph break is needed before the first one.
pub fn blocks(roff: &mut Roff, blocks: &[Block], mut first: bool) {
    for block in blocks {
        match block {
            Block::Para(text) => {
                if !first {
                    roff.control("PP", []);
                }
                roff.text([roman(*text)]);
            }
            Block::Item(term, text) => {
                roff.control("TP", []).text([bold(*term)]).text([roman(*text)]);
            }
            Block::Lines(lines) => {
                if !first {
                    roff.control("PP", []);
                }
                roff.control("RS", ["4"]).control("nf", []);
                for line in *lines {
                    roff.text([roman(*line)]);
                }
                roff.control("fi", []).control("RE", []);
            }
        }
        first = false;
    }
}

/// Renders whole sections, each with its heading.
pub fn sections(roff: &mut Roff, sections: &[Section]) {
    for section in sections {
        roff.control("SH", [section.title]);
        blocks(roff, section.blocks, true);
    }
}
