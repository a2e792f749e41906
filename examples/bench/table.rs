//! The one table the bench prints (a Markdown table: figure, a column per redlock binary,
//! flock(1), etcdctl lock, the ratio), and how its cells are written.

use crate::world::{column_name, Env};

/// A cell with nothing to show: the tool has no such figure, or it could not be had.
pub const NA: &str = "–";

struct Row {
    figure: String,
    describe: String,
    /// One cell per redlock binary.
    bins: Vec<String>,
    flock: String,
    etcd: String,
    ratio: String,
}

pub struct Table {
    heads: Vec<String>,
    rows: Vec<Row>,
}

impl Table {
    pub fn new(env: &Env) -> Table {
        let heads = env
            .bins
            .iter()
            .enumerate()
            .map(|(i, b)| format!("{}: {}", column_name(i), b.label))
            .collect();
        Table { heads, rows: vec![] }
    }

    /// A row, every cell given.
    pub fn add(
        &mut self,
        figure: &str,
        describe: &str,
        bins: Vec<String>,
        flock: String,
        etcd: String,
        ratio: String,
    ) {
        self.rows.push(Row {
            figure: figure.into(),
            describe: describe.into(),
            bins,
            flock,
            etcd,
            ratio,
        });
    }

    /// A row of redlock's alone: flock, etcd and the ratio are "–".
    pub fn add_redlock(&mut self, figure: &str, describe: &str, bins: Vec<String>) {
        self.add(figure, describe, bins, na(), na(), na());
    }

    /// A row of one number per tool, written by `show`, with each redlock's over flock's;
    /// `etcd` is None when etcd did not run.
    pub fn add_figure(
        &mut self,
        figure: &str,
        describe: &str,
        bins: &[f64],
        flock: f64,
        etcd: Option<f64>,
        show: fn(f64) -> String,
    ) {
        let cells = bins.iter().map(|x| show(*x)).collect();
        let etcd = etcd.map_or_else(na, show);
        self.add(figure, describe, cells, show(flock), etcd, ratios(bins, flock));
    }

    pub fn print(&self) {
        let names: Vec<&str> = (0..self.heads.len()).map(column_name).collect();
        println!();
        println!(
            "| figure | {} | flock(1) | etcdctl lock | {} ÷ flock |",
            self.heads.join(" | "),
            names.join(" / ")
        );
        println!("|---|{}---:|---:|---:|", "---:|".repeat(self.heads.len()));
        for r in &self.rows {
            println!(
                "| **{}**<br>{} | {} | {} | {} | {} |",
                r.figure,
                r.describe,
                r.bins.join(" | "),
                r.flock,
                r.etcd,
                r.ratio
            );
        }
    }
}

pub fn na() -> String {
    NA.into()
}

/// `x` as written by `show`, or `missing` when it is not a number (NaN: timed out, none).
fn finite_or(x: f64, show: impl Fn(f64) -> String, missing: &str) -> String {
    if x.is_finite() {
        show(x)
    } else {
        missing.into()
    }
}

pub fn ms(x: f64) -> String {
    finite_or(x, |x| format!("{x:.2} ms"), "timed out")
}

/// A ratio such as wall / ideal, three decimals.
pub fn plain(x: f64) -> String {
    finite_or(x, |x| format!("{x:.3}"), "timed out")
}

/// A ratio, two decimals.
pub fn two(x: f64) -> String {
    finite_or(x, |x| format!("{x:.2}"), "timed out")
}

/// A share as a percentage.
pub fn share(x: f64) -> String {
    finite_or(x, |x| format!("{:.1} %", x * 100.0), NA)
}

pub fn mib(x: f64) -> String {
    finite_or(x, |x| format!("{x:.1} MiB"), NA)
}

/// Each redlock figure over flock's, in column order ("2.66 / 2.10").
pub fn ratios(bins: &[f64], flock: f64) -> String {
    bins.iter()
        .map(|b| {
            if flock > 0.0 && b.is_finite() && flock.is_finite() {
                format!("{:.2}", b / flock)
            } else {
                NA.into()
            }
        })
        .collect::<Vec<_>>()
        .join(" / ")
}
