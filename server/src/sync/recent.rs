//! The log's newest rows, kept in memory by the [`super::hub::Hub`]: a session woken by a
//! commit takes what concerns it from here instead of reading the database.
//!
//! Why: every commit rings every session in its audience, and each used to answer the
//! ring with a query of its own — a county centre's screens and the grid's workers all
//! reading the same few rows a moment after they were written. Each commit of this node
//! hands its rows (with their whole audience) to the hub before it rings anyone, so the
//! rows a woken session wants are nearly always here.
//!
//! Nothing here is the truth; the log is. A session reads from here only when every
//! number after its cursor up to the newest committed is held, so a commit this node did
//! not see whole — another node's, a command-line tool's, one told late, one already
//! let go to keep the bound — sends it to the log, which always serves.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::changes::Change;

/// The most rows kept: a few seconds of a busy county's commits.
pub const KEPT_ROWS: usize = 16_384;

/// The most bytes of row text kept (data, ids, audience).
pub const KEPT_BYTES: usize = 16 << 20;

/// What a row costs besides its text (the struct, the vector slots, the map entry).
const ROW_OVERHEAD: usize = 96;

/// A change-log row as committed, with its whole audience: what a commit hands the hub
/// (and, in a cluster, the other nodes' hubs).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Logged {
    /// Its number.
    pub seq: i64,
    /// What kind of entity.
    pub kind: String,
    /// Its id.
    pub id: String,
    /// Its data (JSON).
    pub data: String,
    /// When it was committed (Unix ms, as stored).
    pub committed_at_ms: i64,
    /// Who receives it: (subject, whether for them the entity left their view).
    pub audience: Vec<(String, bool)>,
}

impl Logged {
    /// The row as a reader listening to `subjects` gets it from the log
    /// (`changes::after`), or `None` if it is not for them: it left their view only if it
    /// left it for every subject of theirs it was for.
    pub fn as_read_by(&self, subjects: &[String]) -> Option<Change> {
        let mut removed = None;
        for (subject, gone) in &self.audience {
            if subjects.contains(subject) {
                removed = Some(removed.unwrap_or(true) && *gone);
            }
        }
        let removed = removed?;
        Some(Change {
            seq: self.seq,
            kind: self.kind.clone(),
            id: self.id.clone(),
            data: self.data.clone(),
            removed,
            committed_at_ms: self.committed_at_ms,
        })
    }

    /// About what the row takes in memory, or in a message.
    pub fn bytes(&self) -> usize {
        let audience: usize = self.audience.iter().map(|(s, _)| s.len() + 32).sum();
        ROW_OVERHEAD + self.kind.len() + self.id.len() + self.data.len() + audience
    }
}

/// A page read from memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The rows for the reader, oldest first (at most the limit asked).
    pub rows: Vec<Change>,
    /// How far the page read: every number up to it was looked at. With a full page, the
    /// last row's number; else the number asked to read through.
    pub through: i64,
    /// Whether the page is full (there may be more).
    pub full: bool,
}

/// The newest commits' rows, by their first number, within [`KEPT_ROWS`] and [`KEPT_BYTES`],
/// with each subject's numbers (a reader's rows are found as the log finds them, through
/// its subjects, never by looking at every row since its cursor) and the numbers between
/// the oldest and the newest held that are not (commits told out of order, or not at all).
#[derive(Debug, Default)]
pub struct Recent {
    /// Each commit's rows, numbered without a gap, by the first number.
    commits: BTreeMap<i64, Arc<[Logged]>>,
    /// The numbers of the rows held for each subject.
    by_subject: HashMap<String, BTreeSet<i64>>,
    /// Runs of numbers not held between the oldest and the newest held: first → last.
    holes: BTreeMap<i64, i64>,
    rows: usize,
    bytes: usize,
}

impl Recent {
    /// An empty tail.
    pub fn new() -> Recent {
        Recent::default()
    }

    /// How many rows are held.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The oldest and the newest number held.
    fn span(&self) -> Option<(i64, i64)> {
        let (&oldest, _) = self.commits.first_key_value()?;
        let (_, newest) = self.commits.last_key_value()?;
        Some((oldest, end(newest)))
    }

    /// Keeps a commit's rows, then lets the oldest commits go past the bounds. Rows that
    /// are not numbered one after another, or that overlap rows held, are not kept (a
    /// reader then goes to the log): only whole commits may be trusted to be whole.
    pub fn keep(&mut self, rows: Arc<[Logged]>) {
        let (Some(first), Some(last)) = (rows.first().map(|r| r.seq), rows.last().map(|r| r.seq)) else { return };
        let numbered = rows.iter().zip(first..).all(|(row, seq)| row.seq == seq);
        let overlaps = self.commits.range(..=last).next_back().is_some_and(|(_, held)| end(held) >= first);
        if !numbered || overlaps {
            return;
        }
        match self.span() {
            // Right after the newest held, or right before the oldest: no hole.
            None => {}
            Some((oldest, newest)) if first == newest + 1 || last + 1 == oldest => {}
            Some((_, newest)) if first > newest => {
                self.holes.insert(newest + 1, first - 1);
            }
            Some((oldest, _)) if last < oldest => {
                self.holes.insert(last + 1, oldest - 1);
            }
            // Between two commits held, not overlapping either: in a hole, which it fills.
            Some(_) => {
                let Some((&from, &to)) = self.holes.range(..=first).next_back() else { return };
                self.holes.remove(&from);
                if from < first {
                    self.holes.insert(from, first - 1);
                }
                if last < to {
                    self.holes.insert(last + 1, to);
                }
            }
        }
        for row in rows.iter() {
            for (subject, _) in &row.audience {
                self.by_subject.entry(subject.clone()).or_default().insert(row.seq);
            }
        }
        self.rows += rows.len();
        self.bytes += rows.iter().map(Logged::bytes).sum::<usize>();
        self.commits.insert(first, rows);
        while self.rows > KEPT_ROWS || self.bytes > KEPT_BYTES {
            self.let_go_of_the_oldest();
        }
    }

    fn let_go_of_the_oldest(&mut self) {
        let Some((_, gone)) = self.commits.pop_first() else { return };
        self.rows -= gone.len();
        self.bytes -= gone.iter().map(Logged::bytes).sum::<usize>();
        for row in gone.iter() {
            for (subject, _) in &row.audience {
                if let Some(seqs) = self.by_subject.get_mut(subject) {
                    seqs.remove(&row.seq);
                    if seqs.is_empty() {
                        self.by_subject.remove(subject);
                    }
                }
            }
        }
        // A hole below the new oldest is no longer between two commits held.
        let oldest = self.commits.first_key_value().map_or(i64::MAX, |(&first, _)| first);
        while self.holes.first_key_value().is_some_and(|(&from, _)| from < oldest) {
            self.holes.pop_first();
        }
    }

    /// Up to `limit` rows for `subjects` numbered after `after`, reading through
    /// `through`; `None` unless every number in between is held.
    pub fn read(&self, subjects: &[String], after: i64, through: i64, limit: usize) -> Option<Page> {
        if after >= through {
            return Some(Page { rows: Vec::new(), through: after, full: false });
        }
        let (oldest, newest) = self.span()?;
        let hole = self.holes.range(..=through).next_back().is_some_and(|(_, &to)| to > after);
        if after + 1 < oldest || through > newest || hole {
            return None;
        }
        // The first `limit` numbers of each subject hold the first `limit` of them all.
        let mut seqs: Vec<i64> = subjects
            .iter()
            .filter_map(|s| self.by_subject.get(s))
            .flat_map(|seqs| seqs.range(after + 1..=through).take(limit))
            .copied()
            .collect();
        seqs.sort_unstable();
        seqs.dedup();
        let full = seqs.len() >= limit;
        seqs.truncate(limit);
        let rows: Vec<Change> =
            seqs.iter().filter_map(|&seq| self.row(seq)).filter_map(|row| row.as_read_by(subjects)).collect();
        let through = if full { seqs.last().copied().unwrap_or(through) } else { through };
        Some(Page { rows, through, full })
    }

    /// The row numbered `seq`, if held.
    fn row(&self, seq: i64) -> Option<&Logged> {
        let (&first, rows) = self.commits.range(..=seq).next_back()?;
        rows.get(usize::try_from(seq - first).ok()?)
    }
}

/// The last number of a commit's rows.
fn end(rows: &[Logged]) -> i64 {
    rows.last().map_or(i64::MIN, |r| r.seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, audience: &[(&str, bool)]) -> Logged {
        Logged {
            seq,
            kind: "task".into(),
            id: format!("t{seq}"),
            data: format!("{{\"n\":{seq}}}"),
            committed_at_ms: 1_000 + seq,
            audience: audience.iter().map(|(s, r)| ((*s).to_owned(), *r)).collect(),
        }
    }

    fn commit(rows: Vec<Logged>) -> Arc<[Logged]> {
        rows.into()
    }

    fn seqs(page: &Page) -> Vec<i64> {
        page.rows.iter().map(|c| c.seq).collect()
    }

    fn subjects(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_reader_gets_its_rows_as_the_log_would_give_them() {
        let mut recent = Recent::new();
        recent.keep(commit(vec![row(11, &[("w1", false), ("unit:3213", false)]), row(12, &[("w2", false)])]));
        recent.keep(commit(vec![row(13, &[("w1", true), ("unit:3213", false)])]));
        let page = recent.read(&subjects(&["w1"]), 10, 13, 100).expect("all held");
        assert_eq!(seqs(&page), [11, 13]);
        assert_eq!((page.through, page.full), (13, false));
        assert!(page.rows[1].removed, "left w1's view");
        assert_eq!(page.rows[0].data, "{\"n\":11}");
        assert_eq!(page.rows[0].committed_at_ms, 1_011);
        // Through two subjects, a row left the view only if it left it for both.
        let both = recent.read(&subjects(&["w1", "unit:3213"]), 10, 13, 100).expect("all held");
        assert_eq!(seqs(&both), [11, 13]);
        assert!(!both.rows[1].removed);
        // From the middle of a commit.
        assert_eq!(seqs(&recent.read(&subjects(&["w2", "w1"]), 11, 13, 100).expect("held")), [12, 13]);
        // Nothing new: an empty page that read as far as asked.
        let none = recent.read(&subjects(&["w3"]), 10, 13, 100).expect("held");
        assert!(none.rows.is_empty());
        assert_eq!(none.through, 13);
    }

    #[test]
    fn a_gap_sends_the_reader_to_the_log() {
        let mut recent = Recent::new();
        recent.keep(commit(vec![row(11, &[("w1", false)])]));
        recent.keep(commit(vec![row(14, &[("w1", false)])]));
        assert!(recent.read(&subjects(&["w1"]), 10, 14, 100).is_none(), "12 and 13 were never told");
        assert!(recent.read(&subjects(&["w1"]), 9, 11, 100).is_none(), "10 is older than anything held");
        assert_eq!(seqs(&recent.read(&subjects(&["w1"]), 13, 14, 100).expect("14 is held")), [14]);
        // A commit told late fills the gap.
        recent.keep(commit(vec![row(12, &[]), row(13, &[("w1", false)])]));
        assert_eq!(seqs(&recent.read(&subjects(&["w1"]), 10, 14, 100).expect("whole now")), [11, 13, 14]);
    }

    #[test]
    fn a_full_page_stops_at_its_last_row() {
        let mut recent = Recent::new();
        recent.keep(commit((1..=5).map(|s| row(s, &[("w1", false)])).collect()));
        let page = recent.read(&subjects(&["w1"]), 0, 5, 2).expect("held");
        assert_eq!((seqs(&page), page.through, page.full), (vec![1, 2], 2, true));
        let rest = recent.read(&subjects(&["w1"]), page.through, 5, 10).expect("held");
        assert_eq!((seqs(&rest), rest.through, rest.full), (vec![3, 4, 5], 5, false));
    }

    #[test]
    fn rows_not_whole_or_overlapping_are_not_kept() {
        let mut recent = Recent::new();
        recent.keep(commit(vec![row(1, &[("w1", false)]), row(3, &[("w1", false)])]));
        assert!(recent.is_empty(), "2 is missing: not a whole commit");
        recent.keep(commit(vec![row(5, &[("w1", false)]), row(6, &[("w1", false)])]));
        recent.keep(commit(vec![row(6, &[("w2", false)])]));
        recent.keep(commit(vec![row(4, &[("w2", false)]), row(5, &[("w2", false)])]));
        recent.keep(commit(Vec::new()));
        assert_eq!(recent.len(), 2);
        assert_eq!(seqs(&recent.read(&subjects(&["w1", "w2"]), 4, 6, 10).expect("held")), [5, 6]);
    }

    #[test]
    fn the_oldest_commits_go_past_the_bound() {
        let mut recent = Recent::new();
        let commits = KEPT_ROWS / 4 + 3;
        for c in 0..commits as i64 {
            recent.keep(commit((0..4).map(|i| row(1 + c * 4 + i, &[("w1", false)])).collect()));
        }
        assert!(recent.len() <= KEPT_ROWS);
        let newest = commits as i64 * 4;
        assert!(recent.read(&subjects(&["w1"]), 0, newest, 10).is_none(), "the first went");
        let tail = recent.read(&subjects(&["w1"]), newest - 8, newest, 100).expect("the last are held");
        assert_eq!(tail.rows.len(), 8);
        // Big rows go by bytes before the row count is reached.
        let mut big = Recent::new();
        let mut text = row(1, &[("w1", false)]);
        text.data = "x".repeat(KEPT_BYTES / 3);
        for seq in 1..=4 {
            big.keep(commit(vec![Logged { seq, ..text.clone() }]));
        }
        assert!(big.len() < 4 && big.bytes <= KEPT_BYTES);
    }

    #[test]
    fn a_commit_told_before_the_oldest_held_or_after_a_gap_leaves_a_hole_until_filled() {
        let mut recent = Recent::new();
        recent.keep(commit(vec![row(20, &[("w1", false)])]));
        recent.keep(commit(vec![row(17, &[("w1", false)])]));
        assert!(recent.read(&subjects(&["w1"]), 16, 20, 10).is_none(), "18 and 19 are not held");
        recent.keep(commit(vec![row(18, &[("w1", false)])]));
        recent.keep(commit(vec![row(19, &[("w2", false)])]));
        assert_eq!(seqs(&recent.read(&subjects(&["w1"]), 16, 20, 10).expect("whole")), [17, 18, 20]);
        assert!(recent.holes.is_empty());
    }

    #[test]
    fn rows_let_go_are_forgotten_by_their_subjects_and_their_holes_too() {
        let mut recent = Recent::new();
        recent.keep(commit(vec![row(1, &[("early", false)])]));
        recent.keep(commit(vec![row(3, &[("w1", false)])]));
        for seq in 4..(KEPT_ROWS as i64 + 3) {
            recent.keep(commit(vec![row(seq, &[("w1", false)])]));
        }
        assert!(!recent.by_subject.contains_key("early"), "its only row went");
        assert!(recent.holes.is_empty(), "the hole at 2 was below the oldest held");
        assert_eq!(recent.len(), KEPT_ROWS);
    }

    proptest::proptest! {
        /// Whatever order commits are told in, and whichever are never told, a read from
        /// memory is what the log would give, and it refuses exactly when a number it
        /// needs was not told.
        #[test]
        fn reads_are_the_logs_or_nothing(
            commits in proptest::collection::vec(
                proptest::collection::vec(proptest::collection::vec((0..4_usize, proptest::bool::ANY), 0..3), 1..4),
                1..25,
            ),
            told in proptest::collection::vec(proptest::bool::weighted(0.85), 25),
            swaps in proptest::collection::vec(0..25_usize, 0..10),
            asks in proptest::collection::vec((0..4_usize, 0..4_usize, 0..60_i64, 0..60_i64, 1..6_usize), 1..12),
        ) {
            let names = ["w1", "w2", "unit:3213", "unit:321302"];
            let mut all = Vec::new();
            let mut next = 1;
            for rows in &commits {
                let mut logged = Vec::new();
                for audience in rows {
                    let mut r = row(next, &[]);
                    for &(who, gone) in audience {
                        if !r.audience.iter().any(|(s, _)| s == names[who]) {
                            r.audience.push((names[who].to_owned(), gone));
                        }
                    }
                    logged.push(r);
                    next += 1;
                }
                all.push(logged);
            }
            let mut order: Vec<usize> = (0..all.len()).collect();
            for &at in &swaps {
                let at = at % order.len();
                let other = (at + 1) % order.len();
                order.swap(at, other);
            }
            let mut recent = Recent::new();
            let mut held = BTreeSet::new();
            for &c in &order {
                if told[c] {
                    recent.keep(commit(all[c].clone()));
                    held.extend(all[c].iter().map(|r| r.seq));
                }
            }
            let rows: Vec<&Logged> = all.iter().flatten().collect();
            for (a, b, after, through, limit) in asks {
                let mut wanted = vec![names[a].to_owned()];
                if b != a {
                    wanted.push(names[b].to_owned());
                }
                let page = recent.read(&wanted, after, through, limit);
                let whole = (after + 1..=through).all(|seq| held.contains(&seq));
                proptest::prop_assert_eq!(page.is_some(), whole, "after {} through {}", after, through);
                let Some(page) = page else { continue };
                let expected: Vec<Change> = rows
                    .iter()
                    .filter(|r| r.seq > after && r.seq <= through)
                    .filter_map(|r| r.as_read_by(&wanted))
                    .take(limit)
                    .collect();
                proptest::prop_assert_eq!(&page.rows, &expected);
                if page.full {
                    proptest::prop_assert_eq!(Some(page.through), expected.last().map(|c| c.seq));
                } else {
                    proptest::prop_assert_eq!(page.through, through.max(after));
                }
            }
        }
    }
}
