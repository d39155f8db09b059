//! What commands print: aligned tables and `key: value` details for people, one JSON document
//! (or JSON lines, for `poll --follow`) for scripts. Every write goes through [`write_stdout`],
//! which turns a closed pipe into a quiet exit.

use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use crate::exit::CliError;

/// How this run prints.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints `value` as one JSON document, or `human()` as text.
    pub fn show<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) -> Result<(), CliError> {
        if self.json {
            let text = serde_json::to_string_pretty(value).map_err(|error| CliError::File(error.to_string()))?;
            write_stdout(&text)
        } else {
            write_stdout(&human())
        }
    }

    /// Prints `value` as one compact JSON line, or `human()` as text.
    pub fn line<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) -> Result<(), CliError> {
        if self.json {
            let text = serde_json::to_string(value).map_err(|error| CliError::File(error.to_string()))?;
            write_stdout(&text)
        } else {
            write_stdout(&human())
        }
    }

    /// Prints the confirmation of a change: `{"ok": true, ...}` or the message.
    pub fn done(&self, message: &str) -> Result<(), CliError> {
        self.show(&serde_json::json!({ "ok": true, "message": message }), || message.to_owned())
    }
}

/// Writes `text` and a newline to stdout, and flushes, so a follower sees each line at once.
pub fn write_stdout(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    let result = stdout.write_all(text.as_bytes()).and_then(|()| stdout.write_all(b"\n")).and_then(|()| stdout.flush());
    result.map_err(|error| match error.kind() {
        std::io::ErrorKind::BrokenPipe => CliError::BrokenPipe,
        _ => CliError::File(format!("cannot write to standard output: {error}")),
    })
}

/// Whether standard output is a pipe whose reader has gone, so a follower that is waiting for
/// new messages can stop now instead of at its next write.
pub fn stdout_closed() -> bool {
    let mut descriptor = libc::pollfd { fd: libc::STDOUT_FILENO, events: 0, revents: 0 };
    // SAFETY: `descriptor` is one valid pollfd that outlives the call, and a zero timeout
    // makes poll(2) return at once.
    let ready = unsafe { libc::poll(&raw mut descriptor, 1, 0) };
    ready > 0 && descriptor.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

/// A table with aligned columns; numeric columns (counts, sizes, durations) align right.
#[derive(Debug)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Table {
        Table { headers: headers.to_vec(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        assert_eq!(cells.len(), self.headers.len(), "a row has one cell per column");
        self.rows.push(cells);
    }

    /// The table, or `empty` when it has no rows.
    pub fn render_or(&self, empty: &str) -> String {
        if self.rows.is_empty() {
            return empty.to_owned();
        }
        let columns = self.headers.len();
        let width = |column: usize| {
            let cells = self.rows.iter().map(|row| row[column].chars().count());
            cells.chain([self.headers[column].len()]).max().unwrap_or(0)
        };
        let widths: Vec<usize> = (0..columns).map(width).collect();
        let numeric: Vec<bool> =
            (0..columns).map(|column| self.rows.iter().all(|row| is_numeric(&row[column]))).collect();
        let headers: Vec<String> = self.headers.iter().map(|&header| header.to_owned()).collect();
        let mut lines = Vec::with_capacity(self.rows.len() + 1);
        for row in std::iter::once(&headers).chain(&self.rows) {
            let cells: Vec<String> = (0..columns)
                .map(|column| match numeric[column] {
                    true => format!("{:>width$}", row[column], width = widths[column]),
                    false => format!("{:<width$}", row[column], width = widths[column]),
                })
                .collect();
            lines.push(cells.join("  ").trim_end().to_owned());
        }
        lines.join("\n")
    }
}

/// A count, size or duration (`12`, `1.5 KiB`, `1h`), not a date or an address.
fn is_numeric(cell: &str) -> bool {
    cell.starts_with(|c: char| c.is_ascii_digit()) && !cell.contains([':', '-'])
}

/// `key: value` lines with the values aligned.
pub fn details(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(key, _)| key.len() + 1).max().unwrap_or(0);
    let lines: Vec<String> =
        pairs.iter().map(|(key, value)| format!("{:<width$} {value}", format!("{key}:"))).collect();
    lines.join("\n")
}

/// `1.5 KiB`, `20 B`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// A wire timestamp (µs since the epoch) as RFC 3339 with seconds, for people.
pub fn time(micros: u64) -> String {
    if micros == 0 {
        return "-".into();
    }
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_micros(micros)).to_string()
}

/// A wire timestamp as RFC 3339 with microseconds, for JSON.
pub fn time_json(micros: u64) -> Option<String> {
    (micros != 0).then(|| humantime::format_rfc3339_micros(UNIX_EPOCH + Duration::from_micros(micros)).to_string())
}

/// A duration in µs, rounded to seconds when it is longer than one.
pub fn duration(micros: u64) -> String {
    let duration = Duration::from_micros(micros);
    let shown = if duration >= Duration::from_secs(1) { Duration::from_secs(duration.as_secs()) } else { duration };
    humantime::format_duration(shown).to_string()
}

/// A topic's message expiry: 0 is the server default, `u64::MAX` never.
pub fn expiry(micros: u64) -> String {
    match micros {
        0 => "server default".into(),
        u64::MAX => "never".into(),
        micros => duration(micros),
    }
}

/// A topic's size limit: 0 is the server default, `u64::MAX` unlimited.
pub fn limit(bytes: u64) -> String {
    match bytes {
        0 => "server default".into(),
        u64::MAX => "unlimited".into(),
        bytes => size(bytes),
    }
}

/// `u64::MAX` ("never", "unlimited") as JSON null, other values as they are.
pub fn unbounded(value: u64) -> Option<u64> {
    (value != u64::MAX).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_numbers_go_right() {
        let mut table = Table::new(&["ID", "NAME", "SIZE"]);
        table.row(vec!["1".into(), "orders".into(), "20 B".into()]);
        table.row(vec!["12".into(), "x".into(), "1.5 KiB".into()]);
        assert_eq!(table.render_or("none"), "ID  NAME       SIZE\n 1  orders     20 B\n12  x       1.5 KiB");
        assert_eq!(Table::new(&["ID"]).render_or("no streams"), "no streams");
    }

    #[test]
    fn human_units() {
        assert_eq!(size(20), "20 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 << 30), "3.0 GiB");
        assert_eq!(time(1_000_000), "1970-01-01T00:00:01Z");
        assert_eq!(time_json(1_000_001).as_deref(), Some("1970-01-01T00:00:01.000001Z"));
        assert_eq!(expiry(3_600_000_000), "1h");
        assert_eq!(expiry(u64::MAX), "never");
        assert_eq!(limit(0), "server default");
        assert_eq!(details(&[("ID", "1".into()), ("Name", "x".into())]), "ID:   1\nName: x");
    }
}
