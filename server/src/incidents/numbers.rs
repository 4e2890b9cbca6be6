//! Case numbers (`2026-0000123`): one counter per year in the `counters` table, from
//! which a node claims a block at a time and hands the numbers out from memory.
//!
//! Why blocks: the counter's row is locked from the moment a transaction takes a number
//! until it commits, so with one number per report every report on PostgreSQL waited
//! for the one before it to commit (issue 19: the counter was the busiest wait under
//! load). A node now claims `block` numbers inside the report that finds its memory
//! empty and keeps the rest for the reports after it, once that report has committed; a
//! report rolled back takes its claim with it. SQLite writes one transaction at a time,
//! so it claims one number at a time and its numbers stay dense. On PostgreSQL numbers
//! are unique and rising on each node; a node's unused numbers are skipped when it
//! stops, a failed report's number is not reused, and several nodes interleave blocks.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

/// Numbers a node claims at a time on PostgreSQL.
pub const POSTGRES_BLOCK: i64 = 32;

/// The human code of case `number` of `year`.
pub fn code(year: i32, number: i64) -> String {
    format!("{year}-{number:07}")
}

/// The counter a year's numbers come from.
pub fn counter(year: i32) -> String {
    format!("case-{year}")
}

/// The year (China Standard Time) a case reported at `now_ms` is numbered in.
pub fn year_of(now_ms: i64) -> i32 {
    time::OffsetDateTime::from_unix_timestamp(now_ms / 1000)
        .map_or(1970, |t| t.to_offset(time::macros::offset!(+8)).year())
}

/// A run of claimed numbers not yet handed out, `next..=last`, of one counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spare {
    /// The counter they came from.
    pub counter: String,
    /// The first not handed out.
    pub next: i64,
    /// The last claimed.
    pub last: i64,
}

/// This node's claimed numbers, by counter, smallest first.
#[derive(Debug)]
pub struct CaseNumbers {
    block: i64,
    spare: Mutex<BTreeMap<String, Vec<(i64, i64)>>>,
}

impl CaseNumbers {
    /// Claims `block` numbers at a time (at least one).
    pub fn new(block: i64) -> CaseNumbers {
        CaseNumbers { block: block.max(1), spare: Mutex::new(BTreeMap::new()) }
    }

    /// How many numbers a claim takes.
    pub fn block(&self) -> i64 {
        self.block
    }

    /// The smallest number held for `counter`, if any.
    pub fn take(&self, counter: &str) -> Option<i64> {
        let mut spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
        let runs = spare.get_mut(counter)?;
        let (next, last) = runs.first_mut()?;
        let number = *next;
        *next += 1;
        if *next > *last {
            runs.remove(0);
        }
        if runs.is_empty() {
            spare.remove(counter);
        }
        Some(number)
    }

    /// Keeps the numbers of a claim whose transaction committed.
    pub fn keep(&self, Spare { counter, next, last }: Spare) {
        if next > last {
            return;
        }
        let mut spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
        let runs = spare.entry(counter).or_default();
        runs.push((next, last));
        runs.sort_unstable();
        // Only this and the following year's counters are worth keeping.
        while spare.len() > 2 {
            spare.pop_first();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spare(counter: &str, next: i64, last: i64) -> Spare {
        Spare { counter: counter.into(), next, last }
    }

    #[test]
    fn numbers_come_out_once_smallest_first_and_per_counter() {
        let numbers = CaseNumbers::new(4);
        assert_eq!(numbers.take("case-2026"), None);
        numbers.keep(spare("case-2026", 6, 8));
        numbers.keep(spare("case-2026", 2, 4));
        numbers.keep(spare("case-2027", 2, 2));
        numbers.keep(spare("case-2026", 9, 8));
        let taken: Vec<_> = std::iter::from_fn(|| numbers.take("case-2026")).collect();
        assert_eq!(taken, [2, 3, 4, 6, 7, 8]);
        assert_eq!(numbers.take("case-2027"), Some(2));
        assert_eq!(numbers.take("case-2027"), None);
    }

    #[test]
    fn old_years_are_let_go() {
        let numbers = CaseNumbers::new(2);
        for year in 2024..=2027 {
            numbers.keep(spare(&counter(year), 2, 2));
        }
        assert_eq!(numbers.take("case-2024"), None);
        assert_eq!(numbers.take("case-2025"), None);
        assert_eq!(numbers.take("case-2027"), Some(2));
    }

    #[test]
    fn a_year_is_chinas_and_a_code_has_seven_digits() {
        // 2026-12-31T16:30Z is already 1 January 2027 in Beijing.
        assert_eq!(year_of(1_798_734_600_000), 2027);
        assert_eq!(year_of(1_798_732_800_000 - 1), 2026);
        assert_eq!(code(2026, 123), "2026-0000123");
        assert_eq!(CaseNumbers::new(0).block(), 1);
    }
}
