//! Reading the journal a page at a time in either direction, for paging back through history
//! past what the dashboard holds in memory.

use rusqlite::Connection;

use super::record::{COLUMNS, StoredRow};
use crate::store::LogEntry;

/// Where a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageFrom {
    /// The rows just below this position.
    Before(u64),
    /// The rows just above this position.
    After(u64),
}

/// Rows of the journal as read, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub entries: Vec<LogEntry>,
    /// Rows read, readable or not: fewer than asked means the journal ends there.
    pub rows: usize,
    /// The lowest and highest positions among the rows read, readable or not, so that the
    /// next page starts past unreadable rows too.
    pub lowest: Option<u64>,
    pub highest: Option<u64>,
}

/// Up to `limit` rows next to `from`, oldest first.
pub fn read_page(conn: &Connection, from: PageFrom, limit: usize) -> rusqlite::Result<Page> {
    let (sql, at) = match from {
        PageFrom::Before(seq) => (
            format!("SELECT {COLUMNS} FROM callbacks WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2"),
            seq,
        ),
        PageFrom::After(seq) => (
            format!("SELECT {COLUMNS} FROM callbacks WHERE seq > ?1 ORDER BY seq LIMIT ?2"),
            seq,
        ),
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let at = i64::try_from(at).unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut rows = stmt.query(rusqlite::params![at, limit])?;
    let mut page = Page::default();
    while let Some(row) = rows.next()? {
        let seq = u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0);
        page.rows += 1;
        page.lowest = Some(page.lowest.map_or(seq, |s| s.min(seq)));
        page.highest = Some(page.highest.map_or(seq, |s| s.max(seq)));
        if let Ok(entry) = StoredRow::from_row(row).and_then(StoredRow::into_entry) {
            page.entries.push(entry);
        }
    }
    if matches!(from, PageFrom::Before(_)) {
        page.entries.reverse();
    }
    Ok(page)
}
