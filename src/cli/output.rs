//! What `inspect` prints: an aligned table for people (colours only on a terminal, never with
//! NO_COLOR) and, in `output/json.rs`, a stable JSON document for programs. Servers are shown
//! through `ServerUrl`'s Display, so a password is never printed.

mod json;

use std::time::{Duration, SystemTime};

pub use crate::cli::table::Style;
use crate::cli::table::{cell, clean, header, painted, table, Cell, Row, GREEN, RED, YELLOW};
use crate::cli::words::{self, human};
use crate::engine::holder::{Holder, Unreadable};
use crate::engine::listing::Listing;
use crate::engine::state::{InstanceView, LockState, Verdict};
pub use json::{listing_json, lock_json};

/// The verdict line: `free`, `held by T (web-3 pid 4121) on 2/3 instances (quorum 2),
/// expires in 12s`, `split: …` or `unknown: …`.
pub fn summary(state: &LockState) -> String {
    let line = verdict_line(state);
    let (answered, n) = (state.answered(), state.n());
    // A degraded quorum is never silent (docs/operator.md, same title); `unknown`
    // says how many answered already.
    if answered < n && !matches!(state.verdict, Verdict::Unknown { .. }) {
        return format!("{line}; {answered} of {n} answered");
    }
    line
}

fn verdict_line(state: &LockState) -> String {
    let (n, q) = (state.n(), state.quorum);
    match &state.verdict {
        Verdict::Free => "free".to_string(),
        Verdict::Held { holder, held_on, .. } if holder.count == 0 => {
            // What `run` says of it too: nobody holds it, --min-hold keeps it.
            format!(
                "{} (token {}) on {held_on}/{n} instances (quorum {q})",
                words::holder(holder),
                holder.token
            )
        }
        Verdict::Held {
            holder,
            held_on,
            expires_in,
        } => {
            let expiry = match expires_in {
                Some(left) => format!("expires in {}", human(*left)),
                None => "never expires (no lease set)".to_string(),
            };
            if holder.other_client {
                // A Redlock library's hold of a --classic lock: its value is all there is.
                return format!(
                    "held by another client (value '{}') on {held_on}/{n} instances (quorum {q}), {expiry}",
                    holder.token.escape_debug()
                );
            }
            format!(
                "held by {} ({}) on {held_on}/{n} instances (quorum {q}), {expiry}",
                holder.token,
                holder.who()
            )
        }
        Verdict::Split { tokens, free, failed } => {
            format!(
                "split: no token holds a quorum ({q} of {n}): {}",
                seen_list(tokens, *free, *failed)
            )
        }
        Verdict::Holds { mode, limit, holders } => {
            let k = holders.len();
            let full = if mode == "limit" {
                format!("held ({k} of {limit} slots)")
            } else {
                format!("shared by {k}")
            };
            let who: Vec<String> = holders
                .iter()
                .map(|(h, _)| {
                    let mut s = h.who();
                    if !h.cmd.is_empty() {
                        s.push_str(&format!(" ({})", h.cmd));
                    }
                    s
                })
                .collect();
            format!("{full}: {}", who.join(", "))
        }
        Verdict::Unknown { answered } => {
            let free = state
                .instances
                .iter()
                .filter(|v| matches!(&v.seen, Ok(s) if s.holder.is_none()))
                .count();
            let mut line = format!("unknown: only {answered} of {n} instances answered (quorum {q})");
            if *answered > 0 {
                line.push_str(&format!("; seen: {}", seen_list(&state.tokens(), free, 0)));
            }
            line
        }
    }
}

/// `T (web-3 pid 4121) on 1, free on 1, no answer from 1`: what each instance says.
fn seen_list(tokens: &[(Holder, usize)], free: usize, failed: usize) -> String {
    let mut parts: Vec<String> = tokens
        .iter()
        .map(|(h, on)| format!("{} ({}) on {on}", h.token, h.who()))
        .collect();
    if free > 0 {
        parts.push(format!("free on {free}"));
    }
    if failed > 0 {
        parts.push(format!("no answer from {failed}"));
    }
    parts.join(", ")
}

/// The verdict, painted by what it says.
fn verdict_cell(state: &LockState) -> Cell {
    let color = match state.verdict {
        Verdict::Free => GREEN,
        Verdict::Held { .. } | Verdict::Holds { .. } => YELLOW,
        Verdict::Split { .. } | Verdict::Unknown { .. } => RED,
    };
    painted(summary(state), color)
}

/// A time a record holds, on the local clock; `unreadable` where the record's value is not
/// one (docs/operator.md, "Corrupt records": hostile or corrupt data never panics).
fn time_cell(t: Option<SystemTime>, unreadable: Unreadable) -> Cell {
    match t {
        Some(t) => cell(words::local_time(t)),
        None if unreadable.contains("since") => painted("unreadable", RED),
        None => cell(""),
    }
}

/// A number a record holds, or `unreadable`.
fn number_cell(value: Option<String>, field: &str, unreadable: Unreadable) -> Cell {
    if unreadable.contains(field) {
        return painted("unreadable", RED);
    }
    cell(value.unwrap_or_default())
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
            "TOKEN", "ON", "HOLDS", "LEFT", "FENCE", "HOST", "PID", "SINCE", "COMMAND",
        ])];
        for (h, on) in holders {
            let u = h.unreadable;
            rows.push(Row::Cells(vec![
                cell(&h.token),
                cell(format!("{on}/{}", state.n())),
                number_cell(Some(h.count.to_string()), "count", u),
                cell(left(h.time_left)),
                number_cell(Some(h.fence.to_string()), "fence", u),
                cell(&h.host),
                number_cell(h.pid.map(|p| p.to_string()), "pid", u),
                time_cell(h.since(), u),
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
                number_cell(w.pid.map(|p| p.to_string()), "pid", w.unreadable),
                time_cell(w.since(), w.unreadable),
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
        Err(e) => {
            let text = match e.tls {
                None => words::server_reply(e, Some(&view.server)),
                Some(_) => words::instance_error(e),
            };
            return Row::Span(server, painted(format!("error: {text}"), RED));
        }
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
        number_cell(Some(h.count.to_string()), "count", h.unreadable),
        cell(left(h.time_left)),
        number_cell(Some(h.fence.to_string()), "fence", h.unreadable),
        cell(&h.host),
        number_cell(h.pid.map(|p| p.to_string()), "pid", h.unreadable),
        time_cell(h.since(), h.unreadable),
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
            Err(e) => Row::Span(
                server,
                painted(format!("error: {}", words::instance_error(e)), RED),
            ),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::state::fixtures::{holder, holds, view};

    #[test]
    fn slots_and_shared_holds_read_as_how_full() {
        let slots = LockState::new(
            "backups",
            vec![holds(&["a", "b"], 3), holds(&["a", "b"], 3), view(None)],
            2,
        );
        assert_eq!(
            summary(&slots),
            "held (2 of 3 slots): web-3 pid 4121 (./deploy.sh), web-3 pid 4121 (./deploy.sh); 2 of 3 answered"
        );
        let shared = LockState::new(
            "env",
            vec![holds(&["r"], 1), holds(&["r"], 1), holds(&["r"], 1)],
            2,
        );
        assert_eq!(summary(&shared), "shared by 1: web-3 pid 4121 (./deploy.sh)");
        let json = lock_json(&slots);
        assert_eq!(
            (json["mode"].as_str(), json["limit"].as_u64()),
            (Some("limit"), Some(3))
        );
        assert_eq!(json["holders"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn unknown_names_what_the_few_answers_saw() {
        let views = [view(Some(Some(holder("a", Some(1))))), view(None), view(None)];
        let state = LockState::new("x", views.to_vec(), 2);
        assert_eq!(
            summary(&state),
            "unknown: only 1 of 3 instances answered (quorum 2); seen: a (web-3 pid 4121) on 1"
        );
    }

    #[test]
    fn held_says_when_the_quorum_runs_out() {
        let views = [
            view(Some(Some(holder("a", Some(5_000))))),
            view(Some(Some(holder("a", Some(9_000))))),
            view(Some(Some(holder("a", Some(7_000))))),
        ];
        let state = LockState::new("deploy", views.to_vec(), 2);
        assert_eq!(
            summary(&state),
            "held by a (web-3 pid 4121) on 3/3 instances (quorum 2), expires in 7s"
        );
    }

    #[test]
    fn split_lists_every_token_and_the_free_instances() {
        let views = [
            view(Some(Some(holder("a", Some(1))))),
            view(Some(Some(holder("b", Some(1))))),
            view(Some(None)),
        ];
        let state = LockState::new("x", views.to_vec(), 2);
        assert_eq!(
            summary(&state),
            "split: no token holds a quorum (2 of 3): a (web-3 pid 4121) on 1, b (web-3 pid 4121) on 1, free on 1"
        );
    }
}
