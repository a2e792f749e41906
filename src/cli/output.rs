//! What `inspect` prints: an aligned table for people (colours only on a terminal, never with
//! NO_COLOR) and a stable JSON document for programs (durations in ms, times in RFC 3339).
//! Servers are shown through `ServerUrl`'s Display, so a password is never printed.

use std::io::IsTerminal;
use std::time::Duration;

use serde_json::{json, Value};

use crate::engine::holder::{human, Holder, Waiter};
use crate::engine::listing::Listing;
use crate::engine::state::{InstanceView, LockState, Verdict};

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";

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

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color && !code.is_empty() && !text.is_empty() {
            format!("{code}{text}{RESET}")
        } else {
            text.to_string()
        }
    }
}

/// Text that came from a server (a holder's host or command, a key's name) may hold anything;
/// control characters would let it rewrite the operator's terminal, so they become `?`.
fn clean(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// One table cell: its text and the colour it is painted in.
struct Cell {
    text: String,
    color: &'static str,
}

fn cell(text: impl Into<String>) -> Cell {
    Cell {
        text: clean(&text.into()),
        color: "",
    }
}

fn painted(text: impl Into<String>, color: &'static str) -> Cell {
    Cell {
        text: clean(&text.into()),
        color,
    }
}

enum Row {
    /// Aligned cells.
    Cells(Vec<Cell>),
    /// An aligned first cell, then text running to the end of the line (an error).
    Span(Cell, Cell),
}

/// Align `rows` in columns two spaces apart; painting never changes a width.
fn table(rows: &[Row], style: Style) -> String {
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

fn header(names: &[&str]) -> Row {
    Row::Cells(names.iter().map(|n| painted(*n, BOLD)).collect())
}

/// The verdict, painted by what it says.
fn verdict_cell(state: &LockState) -> Cell {
    let color = match state.verdict {
        Verdict::Free => GREEN,
        Verdict::Held { .. } | Verdict::Holds { .. } => YELLOW,
        Verdict::Split { .. } | Verdict::Unknown { .. } => RED,
    };
    painted(state.summary(), color)
}

/// `29s`, `850ms`, or `no expiry`.
fn left(d: Option<Duration>) -> String {
    d.map_or_else(|| "no expiry".to_string(), human)
}

/// `redlock inspect -r NAME`: one row per instance, then the verdict line.
pub fn lock_table(state: &LockState, style: Style) -> String {
    let mut rows = vec![header(&[
        "SERVER", "STATUS", "TOKEN", "HOLDS", "LEFT", "FENCE", "HOST", "PID", "SINCE", "COMMAND",
    ])];
    for view in &state.instances {
        rows.push(instance_row(view));
    }
    let mut out = table(&rows, style);
    let verdict = verdict_cell(state);
    out.push_str(&style.paint(verdict.color, &verdict.text));
    out.push('\n');
    if let Verdict::Holds { mode, limit, holders } = &state.verdict {
        out.push_str(&format!(
            "\nholders ({}):\n",
            if mode == "limit" {
                format!("--limit {limit}")
            } else {
                "--shared".to_string()
            }
        ));
        let mut rows = vec![header(&[
            "TOKEN", "ON", "HOLDS", "FENCE", "HOST", "PID", "SINCE", "COMMAND",
        ])];
        for (h, on) in holders {
            rows.push(Row::Cells(vec![
                cell(&h.token),
                cell(format!("{on}/{}", state.n())),
                cell(h.count.to_string()),
                cell(h.fence.to_string()),
                cell(&h.host),
                cell(h.pid.map(|p| p.to_string()).unwrap_or_default()),
                cell(
                    h.since()
                        .map(|t| humantime::format_rfc3339_seconds(t).to_string())
                        .unwrap_or_default(),
                ),
                cell(&h.cmd),
            ]));
        }
        out.push_str(&table(&rows, style));
    }
    if !state.queue.is_empty() {
        out.push_str(&format!(
            "\nqueue ({} waiting, first come first served):\n",
            state.queue.len()
        ));
        let mut rows = vec![header(&[
            "PLACE",
            "HOST",
            "PID",
            "WAITING SINCE",
            "MODE",
            "COMMAND",
        ])];
        for (place, w) in state.queue.iter().enumerate() {
            rows.push(Row::Cells(vec![
                cell((place + 1).to_string()),
                cell(&w.host),
                cell(w.pid.map_or(String::new(), |p| p.to_string())),
                cell(w.since().map_or(String::new(), |t| {
                    humantime::format_rfc3339_seconds(t).to_string()
                })),
                cell(&w.mode),
                cell(&w.cmd),
            ]));
        }
        out.push_str(&table(&rows, style));
    }
    out
}

fn instance_row(view: &InstanceView) -> Row {
    let server = cell(view.server.to_string());
    let seen = match &view.seen {
        Ok(seen) => seen,
        Err(e) => return Row::Span(server, painted(format!("error: {e}"), RED)),
    };
    let Some(h) = &seen.holder else {
        if !seen.holds.is_empty() {
            let what = if seen.mode == "limit" {
                format!("({} of {} slots)", seen.holds.len(), seen.limit)
            } else {
                format!("(shared by {})", seen.holds.len())
            };
            return Row::Cells(vec![server, cell("ok"), painted(what, YELLOW)]);
        }
        return Row::Cells(vec![server, cell("ok"), painted("(free)", GREEN)]);
    };
    Row::Cells(vec![
        server,
        cell("ok"),
        cell(&h.token),
        cell(h.count.to_string()),
        cell(left(h.time_left)),
        cell(h.fence.to_string()),
        cell(&h.host),
        cell(h.pid.map(|p| p.to_string()).unwrap_or_default()),
        cell(
            h.since()
                .map(|t| humantime::format_rfc3339_seconds(t).to_string())
                .unwrap_or_default(),
        ),
        cell(&h.cmd),
    ])
}

/// `redlock inspect`: each server and how many locks it has, then one line per lock.
pub fn listing_table(listing: &Listing, style: Style) -> String {
    let mut rows = vec![header(&["SERVER", "STATUS", "LOCKS"])];
    for s in &listing.servers {
        let server = cell(s.server.to_string());
        rows.push(match &s.locks {
            Ok(count) => Row::Cells(vec![server, cell("ok"), cell(count.to_string())]),
            Err(e) => Row::Span(server, painted(format!("error: {e}"), RED)),
        });
    }
    let mut out = table(&rows, style);
    out.push('\n');
    if listing.locks.is_empty() {
        out.push_str(&format!("no locks under prefix '{}'\n", clean(&listing.prefix)));
        return out;
    }
    // QUEUE comes last: scripts that read the first two columns keep working.
    let mut rows = vec![header(&["RESOURCE", "VERDICT", "QUEUE"])];
    for lock in &listing.locks {
        rows.push(Row::Cells(vec![
            cell(&lock.resource),
            verdict_cell(lock),
            cell(lock.queue.len().to_string()),
        ]));
    }
    out.push_str(&table(&rows, style));
    out
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn holder_json(h: &Holder) -> Value {
    json!({
        "token": h.token,
        "count": h.count,
        "host": h.host,
        "pid": h.pid,
        "command": h.cmd,
        "since": h.since().map(|t| humantime::format_rfc3339_millis(t).to_string()),
        "ttl_ms": h.ttl.map(ms),
        "time_left_ms": h.time_left.map(ms),
        "fence": h.fence,
    })
}

/// One lock, as `inspect -r NAME --json` prints it and as each element of the listing's `locks`.
pub fn lock_json(state: &LockState) -> Value {
    let (state_name, token, held_on, expires_in_ms, holder) = match &state.verdict {
        Verdict::Free => ("free", None, 0, None, None),
        Verdict::Held {
            holder,
            held_on,
            expires_in,
        } => (
            "held",
            Some(holder.token.clone()),
            *held_on,
            expires_in.map(ms),
            Some(holder_json(holder)),
        ),
        Verdict::Holds { .. } => ("held", None, 0, None, None),
        Verdict::Split { .. } => ("split", None, 0, None, None),
        Verdict::Unknown { .. } => ("unknown", None, 0, None, None),
    };
    // Every hold, whatever the mode: the exclusive holder, or the --shared / --limit ones.
    let (mode, limit, holders): (Option<&str>, Option<u32>, Vec<Value>) = match &state.verdict {
        Verdict::Held { holder, held_on, .. } => {
            let mut j = holder_json(holder);
            j["held_on"] = json!(held_on);
            (Some("exclusive"), Some(1), vec![j])
        }
        Verdict::Holds { mode, limit, holders } => (
            Some(mode.as_str()),
            Some(*limit),
            holders
                .iter()
                .map(|(h, on)| {
                    let mut j = holder_json(h);
                    j["held_on"] = json!(on);
                    j
                })
                .collect(),
        ),
        _ => (None, None, vec![]),
    };
    let tokens: Vec<Value> = state
        .tokens()
        .iter()
        .map(|(h, on)| json!({"token": h.token, "held_on": on}))
        .collect();
    let instances: Vec<Value> = state
        .instances
        .iter()
        .map(|v| match &v.seen {
            Ok(seen) => json!({
                "server": v.server.to_string(),
                "reachable": true,
                "error": null,
                "holder": seen.holder.as_ref().map(holder_json),
                "holds": seen.holds.iter().map(holder_json).collect::<Vec<_>>(),
                "last_fence": seen.last_fence,
            }),
            Err(e) => json!({
                "server": v.server.to_string(),
                "reachable": false,
                "error": e.to_string(),
                "holder": null,
                "holds": null,
                "last_fence": null,
            }),
        })
        .collect();
    json!({
        "resource": state.resource,
        "state": state_name,
        "summary": state.summary(),
        "n": state.n(),
        "quorum": state.quorum,
        "answered": state.answered(),
        "token": token,
        "held_on": held_on,
        "expires_in_ms": expires_in_ms,
        "holder": holder,
        "mode": mode,
        "limit": limit,
        "holders": holders,
        "tokens": tokens,
        "instances": instances,
        "queue": state.queue.iter().enumerate().map(|(i, w)| waiter_json(i + 1, w)).collect::<Vec<_>>(),
    })
}

/// One waiter of the queue: its place (1 = next), who it is, since when, in which mode.
fn waiter_json(place: usize, w: &Waiter) -> Value {
    json!({
        "place": place,
        "token": w.token,
        "host": w.host,
        "pid": w.pid,
        "command": w.cmd,
        "waiting_since": w.since().map(|t| humantime::format_rfc3339_millis(t).to_string()),
        "mode": w.mode,
    })
}

/// Every lock under the prefix, as `inspect --json` prints it.
pub fn listing_json(listing: &Listing) -> Value {
    let servers: Vec<Value> = listing
        .servers
        .iter()
        .map(|s| match &s.locks {
            Ok(count) => json!({"server": s.server.to_string(), "reachable": true, "error": null, "locks": count}),
            Err(e) => json!({"server": s.server.to_string(), "reachable": false, "error": e.to_string(), "locks": null}),
        })
        .collect();
    json!({
        "prefix": listing.prefix,
        "n": listing.n(),
        "quorum": listing.quorum,
        "answered": listing.answered(),
        "servers": servers,
        "locks": listing.locks.iter().map(lock_json).collect::<Vec<_>>(),
    })
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
