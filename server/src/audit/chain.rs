//! The chain's arithmetic, over plain data: how an entry's hash is made, and how a run of
//! entries is checked. Written so that anyone can check an exported trace elsewhere with a
//! JSON library and SHA-256 (docs/contract.md, "The trace"):
//!
//! `hash = hex(SHA-256(JSON array [format, seq, prev_hash, case_prev_hash, at_ms, kind,
//! actor_id, actor_role, device_id, incident_id, subject, data]))`, the array written
//! compactly (no spaces) with `data` as the stored JSON text, a string; absent values are
//! `null`. A case event's entry carries, in `data.digest`, the digest of the event row
//! itself (`event_digest`), which ties the case's working history to the chain.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The format's name, hashed into every entry so that a change of rules cannot pass as
/// the old one.
pub const FORMAT: &str = "gridlink-audit-v1";

/// The `prev_hash` of the first entry, and of the head before any.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One entry of the chain as stored and as exported (read from `audit_log` as
/// `verify::LINK_COLUMNS` selects it, in the order of its fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, diesel::Queryable)]
pub struct Link {
    /// Its number, from 1.
    pub seq: i64,
    /// When it happened (Unix ms).
    pub at_ms: i64,
    /// What it records.
    pub kind: String,
    /// Who did it.
    pub actor_id: Option<String>,
    /// Their role then.
    pub actor_role: Option<String>,
    /// From which device.
    pub device_id: Option<String>,
    /// The case concerned.
    pub incident_id: Option<String>,
    /// What else it is about.
    pub subject: Option<String>,
    /// The rest, as stored JSON text.
    pub data: String,
    /// The hash of entry `seq - 1` ([`GENESIS`] for the first).
    pub prev_hash: String,
    /// The hash of the case's previous entry ([`GENESIS`] for a case's first; `None` outside cases).
    pub case_prev_hash: Option<String>,
    /// Its hash ([`link_hash`]).
    pub hash: String,
}

/// The hash an entry must carry, from everything else in it.
pub fn link_hash(link: &Link) -> String {
    let content = serde_json::json!([
        FORMAT,
        link.seq,
        link.prev_hash,
        link.case_prev_hash,
        link.at_ms,
        link.kind,
        link.actor_id,
        link.actor_role,
        link.device_id,
        link.incident_id,
        link.subject,
        link.data,
    ]);
    hex_sha256(content.to_string().as_bytes())
}

/// The fields of a case event that its digest covers, in the order hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventFacts {
    /// Its case.
    pub incident_id: String,
    /// Its number within the case.
    pub n: i32,
    /// What happened.
    pub action: String,
    /// Who did it.
    pub actor_id: Option<String>,
    /// Their role then.
    pub actor_role: Option<String>,
    /// From which device.
    pub device_id: Option<String>,
    /// Its data (stored JSON text).
    pub data: String,
    /// When it happened.
    pub at_ms: i64,
    /// When the server heard of it.
    pub received_at_ms: Option<i64>,
}

/// The digest of one case event, kept in its chain entry's `data.digest`.
pub fn event_digest(event: &EventFacts) -> String {
    let content = serde_json::json!([
        FORMAT,
        event.incident_id,
        event.n,
        event.action,
        event.actor_id,
        event.actor_role,
        event.device_id,
        event.data,
        event.at_ms,
        event.received_at_ms,
    ]);
    hex_sha256(content.to_string().as_bytes())
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Where and why a chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Break {
    /// An entry's number is not the one after its predecessor's (one was deleted, or the
    /// rows were renumbered).
    #[error("entry {seq}: expected number {expected} (an entry is missing or out of place)")]
    Gap {
        /// The number found.
        seq: i64,
        /// The number expected there.
        expected: i64,
    },
    /// An entry does not name its predecessor's hash.
    #[error("entry {seq}: its prev_hash is not the hash of entry {}", seq - 1)]
    Unlinked {
        /// The entry.
        seq: i64,
    },
    /// An entry does not name its case's previous entry.
    #[error("entry {seq}: its case_prev_hash is not the hash of the case's previous entry")]
    CaseUnlinked {
        /// The entry.
        seq: i64,
    },
    /// An entry's content was changed after it was written.
    #[error("entry {seq}: its content does not match its hash (edited)")]
    Edited {
        /// The entry.
        seq: i64,
    },
    /// The chain ends before its head says it does (its newest entries were deleted).
    #[error("the chain ends at entry {last} but its head says {head}")]
    Truncated {
        /// The last entry found.
        last: i64,
        /// The head's number.
        head: i64,
    },
    /// The head's hash is not the last entry's.
    #[error("the head's hash is not the hash of entry {seq}")]
    Head {
        /// The last entry.
        seq: i64,
    },
    /// A case event differs from what the chain recorded of it, or has no entry.
    #[error("case {incident_id}, event {n}: {why}")]
    Event {
        /// The case.
        incident_id: String,
        /// The event's number.
        n: i32,
        /// What is wrong.
        why: String,
    },
}

impl Break {
    /// The chain entry the break is found at, if it is one.
    pub fn seq(&self) -> Option<i64> {
        match self {
            Break::Gap { seq, .. }
            | Break::Unlinked { seq }
            | Break::CaseUnlinked { seq }
            | Break::Edited { seq }
            | Break::Head { seq } => Some(*seq),
            Break::Truncated { last, .. } => Some(*last),
            Break::Event { .. } => None,
        }
    }
}

/// Checks the whole chain as it streams by, oldest first: each entry's number, links and
/// hash. Feed it with [`Walker::next`]; [`Walker::finish`] checks the head.
#[derive(Debug)]
pub struct Walker {
    last_seq: i64,
    last_hash: String,
    case_heads: std::collections::HashMap<String, String>,
}

impl Default for Walker {
    fn default() -> Walker {
        Walker { last_seq: 0, last_hash: GENESIS.to_owned(), case_heads: std::collections::HashMap::new() }
    }
}

impl Walker {
    /// Checks the next entry.
    pub fn next(&mut self, link: &Link) -> Result<(), Break> {
        let expected = self.last_seq + 1;
        if link.seq != expected {
            return Err(Break::Gap { seq: link.seq, expected });
        }
        if link.prev_hash != self.last_hash {
            return Err(Break::Unlinked { seq: link.seq });
        }
        if let Some(incident) = &link.incident_id {
            let case_prev = self.case_heads.get(incident).map_or(GENESIS, String::as_str);
            if link.case_prev_hash.as_deref() != Some(case_prev) {
                return Err(Break::CaseUnlinked { seq: link.seq });
            }
        } else if link.case_prev_hash.is_some() {
            return Err(Break::CaseUnlinked { seq: link.seq });
        }
        if link_hash(link) != link.hash {
            return Err(Break::Edited { seq: link.seq });
        }
        if let Some(incident) = &link.incident_id {
            self.case_heads.insert(incident.clone(), link.hash.clone());
        }
        self.last_seq = link.seq;
        self.last_hash.clone_from(&link.hash);
        Ok(())
    }

    /// Checks the head against the last entry seen; returns how many entries were checked.
    pub fn finish(&self, head_seq: i64, head_hash: &str) -> Result<i64, Break> {
        if head_seq != self.last_seq {
            return Err(Break::Truncated { last: self.last_seq, head: head_seq });
        }
        if head_hash != self.last_hash {
            return Err(Break::Head { seq: self.last_seq });
        }
        Ok(self.last_seq)
    }
}

/// Checks one case's entries on their own (an export): each is intact, and each names the
/// case's previous one, from the case's first. Entries of the case only, oldest first.
pub fn check_case(links: &[Link]) -> Result<(), Break> {
    let mut previous = GENESIS;
    let mut last_seq = 0;
    for link in links {
        if link.seq <= last_seq {
            return Err(Break::Gap { seq: link.seq, expected: last_seq + 1 });
        }
        if link.case_prev_hash.as_deref() != Some(previous) {
            return Err(Break::CaseUnlinked { seq: link.seq });
        }
        if link_hash(link) != link.hash {
            return Err(Break::Edited { seq: link.seq });
        }
        previous = &link.hash;
        last_seq = link.seq;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<Link> {
        let mut links: Vec<Link> = Vec::new();
        let mut case_head = GENESIS.to_owned();
        for seq in 1..=n {
            let on_case = seq % 2 == 0;
            let mut link = Link {
                seq,
                at_ms: 1_000 * seq,
                kind: if on_case { "case_event".into() } else { "login".into() },
                actor_id: Some(format!("u{seq}")),
                actor_role: None,
                device_id: None,
                incident_id: on_case.then(|| "c1".to_owned()),
                subject: None,
                data: format!("{{\"n\":{seq}}}"),
                prev_hash: links.last().map_or(GENESIS.to_owned(), |l| l.hash.clone()),
                case_prev_hash: on_case.then(|| case_head.clone()),
                hash: String::new(),
            };
            link.hash = link_hash(&link);
            if on_case {
                case_head = link.hash.clone();
            }
            links.push(link);
        }
        links
    }

    fn walk(links: &[Link], head: (i64, &str)) -> Result<i64, Break> {
        let mut walker = Walker::default();
        for link in links {
            walker.next(link)?;
        }
        walker.finish(head.0, head.1)
    }

    #[test]
    fn a_whole_chain_holds() {
        let links = chain(6);
        let last = links.last().unwrap();
        assert_eq!(walk(&links, (6, &last.hash)), Ok(6));
        let case: Vec<Link> = links.iter().filter(|l| l.incident_id.is_some()).cloned().collect();
        assert_eq!(check_case(&case), Ok(()));
    }

    #[test]
    fn an_empty_chain_holds_against_the_genesis_head() {
        assert_eq!(walk(&[], (0, GENESIS)), Ok(0));
    }

    #[test]
    fn an_edited_entry_is_named() {
        let mut links = chain(6);
        let head = links[5].hash.clone();
        links[2].data = "{\"n\":99}".into();
        assert_eq!(walk(&links, (6, &head)), Err(Break::Edited { seq: 3 }));
    }

    #[test]
    fn an_edit_with_its_hash_recomputed_breaks_the_next_link() {
        let mut links = chain(6);
        let head = links[5].hash.clone();
        links[2].actor_id = Some("someone else".into());
        links[2].hash = link_hash(&links[2]);
        assert_eq!(walk(&links, (6, &head)), Err(Break::Unlinked { seq: 4 }));
    }

    #[test]
    fn a_deleted_entry_is_a_gap() {
        let mut links = chain(6);
        let head = links[5].hash.clone();
        links.remove(3);
        assert_eq!(walk(&links, (6, &head)), Err(Break::Gap { seq: 5, expected: 4 }));
    }

    #[test]
    fn swapped_entries_are_found() {
        let mut links = chain(6);
        let head = links[5].hash.clone();
        // Swap the contents of entries 2 and 3 and keep their numbers in order.
        let (a, b) = (links[1].clone(), links[2].clone());
        links[1] = Link { seq: 2, ..b };
        links[2] = Link { seq: 3, ..a };
        assert_eq!(walk(&links, (6, &head)), Err(Break::Unlinked { seq: 2 }));
    }

    #[test]
    fn deleting_the_newest_entries_is_caught_by_the_head() {
        let mut links = chain(6);
        let head = links[5].hash.clone();
        links.truncate(4);
        assert_eq!(walk(&links, (6, &head)), Err(Break::Truncated { last: 4, head: 6 }));
    }

    #[test]
    fn a_case_export_missing_an_entry_is_found() {
        let links = chain(8);
        let mut case: Vec<Link> = links.iter().filter(|l| l.incident_id.is_some()).cloned().collect();
        case.remove(1);
        assert_eq!(check_case(&case), Err(Break::CaseUnlinked { seq: 6 }));
    }

    #[test]
    fn the_event_digest_covers_every_field() {
        let event = EventFacts {
            incident_id: "c1".into(),
            n: 1,
            action: "reported".into(),
            actor_id: None,
            actor_role: None,
            device_id: None,
            data: "{}".into(),
            at_ms: 5,
            received_at_ms: Some(6),
        };
        let digest = event_digest(&event);
        assert_ne!(digest, event_digest(&EventFacts { at_ms: 4, ..event.clone() }));
        assert_ne!(digest, event_digest(&EventFacts { received_at_ms: None, ..event.clone() }));
        assert_ne!(digest, event_digest(&EventFacts { data: "{\"a\":1}".into(), ..event.clone() }));
        assert_eq!(digest.len(), 64);
    }
}
