//! Which change-log numbers a node has heard of, and which it must read for itself.
//!
//! Every commit's numbers reach every node: its own through its notifier, the others'
//! through NATS ([`super::Message::Log`] carries the commit's first and last number). A
//! number the log has but the node never heard of is a message that was lost — NATS is
//! at-most-once, and a node cut off from it hears nothing — and the node reads who that
//! change concerns from the log and rings them itself. While connected it waits one look
//! before doing so, since a message may simply be on its way; cut off, it does not wait.
//! Plain data, tested without a database.

use std::collections::BTreeSet;

/// At most this many unheard numbers are looked at in one go.
const MOST: i64 = 50_000;

/// The numbers heard of, and those suspected lost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Heard {
    /// Every number up to this one is settled (heard, or read).
    upto: i64,
    /// Numbers past `upto` heard of already.
    beyond: BTreeSet<i64>,
    /// Numbers found unheard at the last look.
    suspects: BTreeSet<i64>,
}

impl Heard {
    /// A node starting when the log's newest number is `newest`: what came before is
    /// its sessions' own business (they read from their cursors when they connect).
    pub fn starting_at(newest: i64) -> Heard {
        Heard { upto: newest, ..Heard::default() }
    }

    /// Everything up to this number is settled.
    pub fn settled(&self) -> i64 {
        self.upto
    }

    /// Notes that the numbers `oldest..=newest` were heard of (a commit told by NATS or
    /// made here, or changes read from the log).
    pub fn heard(&mut self, oldest: i64, newest: i64) {
        if newest <= self.upto || oldest > newest || oldest <= 0 {
            return;
        }
        for seq in oldest.max(self.upto + 1)..=newest {
            self.beyond.insert(seq);
            self.suspects.remove(&seq);
        }
        while self.beyond.remove(&(self.upto + 1)) {
            self.upto += 1;
        }
    }

    /// Which numbers to read from the log now that its newest is `newest`: every unheard
    /// one when `patient` is false (the link is down); when it is true, those that were
    /// unheard at the last look already (the others become suspects).
    pub fn to_read(&mut self, newest: i64, patient: bool) -> BTreeSet<i64> {
        let last = newest.min(self.upto + MOST);
        let unheard: BTreeSet<i64> = (self.upto + 1..=last).filter(|seq| !self.beyond.contains(seq)).collect();
        if !patient {
            self.suspects.clear();
            return unheard;
        }
        let (due, fresh): (BTreeSet<i64>, BTreeSet<i64>) =
            unheard.into_iter().partition(|seq| self.suspects.contains(seq));
        self.suspects = fresh;
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heard_numbers_settle_the_prefix_and_gaps_hold_it_back() {
        let mut heard = Heard::starting_at(10);
        heard.heard(11, 12);
        assert_eq!(heard.settled(), 12);
        heard.heard(14, 15);
        assert_eq!(heard.settled(), 12, "13 is missing");
        heard.heard(13, 13);
        assert_eq!(heard.settled(), 15);
        heard.heard(3, 9);
        heard.heard(0, 0);
        heard.heard(20, 19);
        assert_eq!(heard, Heard::starting_at(15), "nothing old, empty or backwards is kept");
    }

    #[test]
    fn a_patient_node_reads_only_what_stayed_unheard_for_a_whole_look() {
        let mut heard = Heard::starting_at(10);
        heard.heard(12, 12);
        assert!(heard.to_read(14, true).is_empty(), "11, 13 and 14 may be on their way");
        heard.heard(13, 13);
        assert_eq!(heard.to_read(16, true), BTreeSet::from([11, 14]), "still unheard: lost");
        assert_eq!(heard.to_read(16, true), BTreeSet::from([15, 16]));
        heard.heard(11, 11);
        heard.heard(14, 16);
        assert_eq!(heard.settled(), 16);
        assert!(heard.to_read(16, true).is_empty());
    }

    #[test]
    fn a_node_cut_off_reads_every_unheard_number_at_once() {
        let mut heard = Heard::starting_at(0);
        heard.heard(2, 3);
        assert_eq!(heard.to_read(5, false), BTreeSet::from([1, 4, 5]));
        heard.heard(1, 1);
        heard.heard(4, 5);
        assert_eq!(heard.settled(), 5);
        let far = heard.to_read(5 + 2 * MOST, false);
        assert_eq!((far.len() as i64, far.first().copied()), (MOST, Some(6)), "a page at a time");
    }
}
