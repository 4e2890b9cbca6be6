//! What a client keeps and how it reacts, as plain code: the cursor, the entities it
//! holds and the outbox of mutations not yet answered. It does no I/O: feed it the
//! server's messages and send what it returns. Serialize it to persist it (every field
//! matters: a phone killed mid-flight must resume with the same cursor and the same
//! mutation ids).

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::{ClientMessage, Item, Op, PROTOCOL_VERSION, ServerMessage};

/// A mutation waiting for its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// Its id, unique on this device.
    pub id: String,
    /// What it asks.
    pub op: Op,
}

/// The answer a mutation got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// Applied (now or before).
    pub ok: bool,
    /// Why not.
    pub code: Option<String>,
}

/// A client's state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ClientState {
    /// This install's id.
    pub device_id: String,
    /// The cursor of the last frame stored.
    pub cursor: i64,
    /// Entities held, by kind and id.
    pub held: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
    /// Mutations sent or to send, oldest first, until answered.
    pub outbox: VecDeque<Pending>,
    /// Answers received, by mutation id (the app shows them; trim as it likes).
    pub answers: BTreeMap<String, Answer>,
    /// True between a reset and its snapshot's end: what is held is being rebuilt.
    pub rebuilding: bool,
}

impl ClientState {
    /// A fresh install.
    pub fn new(device_id: impl Into<String>) -> ClientState {
        ClientState { device_id: device_id.into(), ..ClientState::default() }
    }

    /// The hello to open a connection with.
    pub fn hello(&self) -> ClientMessage {
        ClientMessage::Hello { protocol: PROTOCOL_VERSION, device_id: self.device_id.clone(), cursor: self.cursor }
    }

    /// Queues a mutation; it is sent by [`ClientState::unanswered`] until answered.
    pub fn enqueue(&mut self, id: impl Into<String>, op: Op) {
        self.outbox.push_back(Pending { id: id.into(), op });
    }

    /// Every mutation not answered yet, in order: send them after each welcome. Sending
    /// one twice is harmless: the server applies each id once.
    pub fn unanswered(&self) -> Vec<ClientMessage> {
        self.outbox.iter().map(|p| ClientMessage::Mutate { id: p.id.clone(), op: p.op.clone() }).collect()
    }

    /// The tasks held, by id.
    pub fn tasks(&self) -> impl Iterator<Item = (&str, &serde_json::Value)> {
        self.held.get("task").into_iter().flatten().map(|(id, data)| (id.as_str(), data))
    }

    fn hold(&mut self, item: &Item) {
        if item.removed {
            if let Some(of_kind) = self.held.get_mut(&item.kind) {
                of_kind.remove(&item.id);
            }
        } else {
            self.held.entry(item.kind.clone()).or_default().insert(item.id.clone(), item.data.clone());
        }
    }

    /// Takes in a server message; the messages to send back (acks). Call it only after
    /// what it changed is stored, since the ack tells the server it is.
    pub fn receive(&mut self, message: &ServerMessage) -> Vec<ClientMessage> {
        match message {
            ServerMessage::Reset => {
                self.held.clear();
                self.rebuilding = true;
                Vec::new()
            }
            ServerMessage::Snapshot { items } => {
                for item in items {
                    self.hold(item);
                }
                Vec::new()
            }
            ServerMessage::SnapshotEnd { cursor } => {
                self.rebuilding = false;
                self.cursor = *cursor;
                vec![ClientMessage::Ack { cursor: *cursor }]
            }
            ServerMessage::Changes { cursor, items, .. } => {
                let stored = self.cursor;
                for item in items.iter().filter(|i| i.seq > stored) {
                    self.hold(item);
                }
                self.cursor = self.cursor.max(*cursor);
                vec![ClientMessage::Ack { cursor: self.cursor }]
            }
            ServerMessage::MutationResult { id, ok, retry, code, .. } => {
                if !retry {
                    self.outbox.retain(|p| p.id != *id);
                    self.answers.insert(id.clone(), Answer { ok: *ok, code: code.clone() });
                }
                Vec::new()
            }
            ServerMessage::Welcome { .. }
            | ServerMessage::Pong { .. }
            | ServerMessage::Error { .. }
            | ServerMessage::Unknown => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OpKind;
    use serde_json::json;

    fn task(seq: i64, id: &str, removed: bool) -> Item {
        Item { seq, kind: "task".into(), id: id.into(), removed, data: json!({"status": "open"}) }
    }

    #[test]
    fn changes_are_held_acked_and_never_applied_twice() {
        let mut client = ClientState::new("phone-1");
        let acks = client.receive(&ServerMessage::Changes {
            cursor: 7,
            items: vec![task(3, "a", false), task(5, "b", false)],
            committed_at_ms: None,
        });
        assert_eq!(acks, vec![ClientMessage::Ack { cursor: 7 }]);
        assert_eq!(client.tasks().count(), 2);
        // A frame the client already stored (a resend after a reconnect) changes nothing.
        client.receive(&ServerMessage::Changes { cursor: 7, items: vec![task(5, "b", true)], committed_at_ms: None });
        assert_eq!(client.tasks().count(), 2);
        client.receive(&ServerMessage::Changes { cursor: 9, items: vec![task(9, "a", true)], committed_at_ms: None });
        assert_eq!(client.tasks().map(|(id, _)| id).collect::<Vec<_>>(), ["b"]);
        assert_eq!(client.cursor, 9);
    }

    #[test]
    fn a_reset_rebuilds_from_the_snapshot() {
        let mut client = ClientState::new("phone-1");
        client.receive(&ServerMessage::Changes {
            cursor: 4,
            items: vec![task(4, "old", false)],
            committed_at_ms: None,
        });
        client.receive(&ServerMessage::Reset);
        assert!(client.rebuilding && client.held.is_empty());
        client.receive(&ServerMessage::Snapshot { items: vec![task(20, "new", false)] });
        let acks = client.receive(&ServerMessage::SnapshotEnd { cursor: 20 });
        assert_eq!(acks, vec![ClientMessage::Ack { cursor: 20 }]);
        assert!(!client.rebuilding);
        assert_eq!(client.tasks().map(|(id, _)| id).collect::<Vec<_>>(), ["new"]);
    }

    #[test]
    fn the_outbox_keeps_a_mutation_until_a_final_answer() {
        let mut client = ClientState::new("phone-1");
        let op = Op { kind: OpKind::AcceptTask { task_id: "t".into() }, occurred_at: None };
        client.enqueue("m1", op.clone());
        assert_eq!(client.unanswered(), vec![ClientMessage::Mutate { id: "m1".into(), op }]);
        let retry = ServerMessage::MutationResult {
            id: "m1".into(),
            ok: false,
            retry: true,
            code: Some("unknown-attachment".into()),
            detail: None,
        };
        client.receive(&retry);
        assert_eq!(client.outbox.len(), 1, "a retry is sent again");
        let done = ServerMessage::MutationResult { id: "m1".into(), ok: true, retry: false, code: None, detail: None };
        client.receive(&done);
        assert!(client.outbox.is_empty());
        assert_eq!(client.answers["m1"], Answer { ok: true, code: None });
        client.receive(&ServerMessage::Changes { cursor: 3, items: vec![task(3, "t", false)], committed_at_ms: None });
        // Persisted and restored, the state is the same.
        let saved = serde_json::to_string(&client).unwrap();
        assert_eq!(serde_json::from_str::<ClientState>(&saved).unwrap(), client);
    }
}
