//! The wire format, frozen: every message as the JSON it must be, both ways. A change
//! here is a change to what phones in the field speak — make it only with a new
//! protocol version or in a backward-compatible way (a new optional field).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use sync_protocol::{ClientMessage, Handled, Item, Location, Op, OpKind, ServerMessage};

/// `message` serialises to exactly `wire`, and `wire` reads back as `message`.
fn frozen<T>(message: T, wire: Value)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    assert_eq!(serde_json::to_value(&message).unwrap(), wire, "{message:?}");
    assert_eq!(serde_json::from_value::<T>(wire).unwrap(), message);
}

fn op(kind: OpKind) -> Op {
    Op { kind, occurred_at: None }
}

#[test]
fn client_messages() {
    frozen(
        ClientMessage::Hello { protocol: 1, device_id: "d1".into(), cursor: 0 },
        json!({"type": "hello", "protocol": 1, "device_id": "d1", "cursor": 0}),
    );
    frozen(ClientMessage::Ack { cursor: 42 }, json!({"type": "ack", "cursor": 42}));
    frozen(ClientMessage::Ping { nonce: Some(7) }, json!({"type": "ping", "nonce": 7}));
    frozen(ClientMessage::Ping { nonce: None }, json!({"type": "ping"}));
    frozen(
        ClientMessage::Mutate {
            id: "m1".into(),
            op: Op {
                kind: OpKind::CompleteTask {
                    task_id: "t1".into(),
                    result: "已处理".into(),
                    photos: vec!["sha256:ab".into()],
                    location: None,
                },
                occurred_at: Some("2026-11-22T08:00:00Z".into()),
            },
        },
        json!({"type": "mutate", "id": "m1", "op": {
            "kind": "complete_task", "task_id": "t1", "result": "已处理", "photos": ["sha256:ab"],
            "occurred_at": "2026-11-22T08:00:00Z"
        }}),
    );
}

#[test]
fn every_op_kind() {
    let at = Location { lon: 118.3, lat: 33.9, crs: Some("gcj02".into()) };
    let cases = [
        (OpKind::AcceptTask { task_id: "t".into() }, json!({"kind": "accept_task", "task_id": "t"})),
        (
            OpKind::Arrive { task_id: "t".into(), location: Some(at.clone()) },
            json!({"kind": "arrive", "task_id": "t", "location": {"lon": 118.3, "lat": 33.9, "crs": "gcj02"}}),
        ),
        (
            OpKind::Progress { task_id: "t".into(), text: "到场".into(), photos: vec![] },
            json!({"kind": "progress", "task_id": "t", "text": "到场", "photos": []}),
        ),
        (
            OpKind::ReturnTask { task_id: "t".into(), reason: "非本网格".into() },
            json!({"kind": "return_task", "task_id": "t", "reason": "非本网格"}),
        ),
        (
            OpKind::RequestExtension {
                task_id: "t".into(),
                until: "2026-11-23T09:00:00Z".into(),
                reason: "待材料".into(),
            },
            json!({"kind": "request_extension", "task_id": "t", "until": "2026-11-23T09:00:00Z", "reason": "待材料"}),
        ),
        (
            OpKind::RequestPark { task_id: "t".into(), reason: "待拆迁".into(), until: None },
            json!({"kind": "request_park", "task_id": "t", "reason": "待拆迁"}),
        ),
        (
            OpKind::RequestPark {
                task_id: "t".into(),
                reason: "待拆迁".into(),
                until: Some("2027-01-01T00:00:00Z".into()),
            },
            json!({"kind": "request_park", "task_id": "t", "reason": "待拆迁", "until": "2027-01-01T00:00:00Z"}),
        ),
        (OpKind::ResumeTask { task_id: "t".into() }, json!({"kind": "resume_task", "task_id": "t"})),
        (
            OpKind::ConfirmTask { task_id: "t".into(), exists: false, photos: vec![] },
            json!({"kind": "confirm_task", "task_id": "t", "exists": false, "photos": []}),
        ),
        (
            OpKind::Verify { task_id: "t".into(), passed: true, note: "".into(), photos: vec![] },
            json!({"kind": "verify", "task_id": "t", "passed": true, "note": "", "photos": []}),
        ),
        (
            OpKind::ReportIncident {
                incident_id: "c".into(),
                category: "C0101".into(),
                location: Location { lon: 1.0, lat: 2.0, crs: None },
                description: "".into(),
                photos: vec![],
                severity: None,
                handled: None,
            },
            json!({"kind": "report_incident", "incident_id": "c", "category": "C0101",
                   "location": {"lon": 1.0, "lat": 2.0}, "description": "", "photos": []}),
        ),
        (
            OpKind::ReportIncident {
                incident_id: "c".into(),
                category: "C0301".into(),
                location: Location { lon: 1.0, lat: 2.0, crs: None },
                description: "垃圾暴露".into(),
                photos: vec!["sha256:before".into()],
                severity: None,
                handled: Some(Box::new(Handled {
                    result: "已清理".into(),
                    photos: vec!["sha256:after".into()],
                    location: Some(Location { lon: 1.0, lat: 2.0, crs: Some("gcj02".into()) }),
                })),
            },
            json!({"kind": "report_incident", "incident_id": "c", "category": "C0301",
                   "location": {"lon": 1.0, "lat": 2.0}, "description": "垃圾暴露",
                   "photos": ["sha256:before"],
                   "handled": {"result": "已清理", "photos": ["sha256:after"],
                               "location": {"lon": 1.0, "lat": 2.0, "crs": "gcj02"}}}),
        ),
        (
            OpKind::Location { at: Location { lon: 1.0, lat: 2.0, crs: None }, accuracy_m: Some(5.0) },
            json!({"kind": "location", "lon": 1.0, "lat": 2.0, "accuracy_m": 5.0}),
        ),
    ];
    for (kind, wire) in cases {
        frozen(op(kind), wire);
    }
}

#[test]
fn server_messages() {
    frozen(
        ServerMessage::Welcome { cursor: 9, protocol: 1, user_id: "u".into(), heartbeat_s: 30 },
        json!({"type": "welcome", "cursor": 9, "protocol": 1, "user_id": "u", "heartbeat_s": 30}),
    );
    frozen(ServerMessage::Reset, json!({"type": "reset"}));
    let item = Item { seq: 5, kind: "task".into(), id: "t".into(), removed: false, data: json!({"status": "open"}) };
    frozen(
        ServerMessage::Snapshot { items: vec![item.clone()] },
        json!({"type": "snapshot", "items": [{"seq": 5, "kind": "task", "id": "t", "data": {"status": "open"}}]}),
    );
    frozen(ServerMessage::SnapshotEnd { cursor: 5 }, json!({"type": "snapshot_end", "cursor": 5}));
    frozen(
        ServerMessage::Changes {
            cursor: 8,
            items: vec![Item { removed: true, ..item }],
            committed_at_ms: Some(1_780_000_000_000),
        },
        json!({"type": "changes", "cursor": 8, "committed_at_ms": 1_780_000_000_000_i64,
               "items": [{"seq": 5, "kind": "task", "id": "t", "removed": true, "data": {"status": "open"}}]}),
    );
    frozen(
        ServerMessage::MutationResult { id: "m".into(), ok: true, retry: false, code: None, detail: None },
        json!({"type": "mutation_result", "id": "m", "ok": true}),
    );
    frozen(
        ServerMessage::MutationResult {
            id: "m".into(),
            ok: false,
            retry: true,
            code: Some("unknown-attachment".into()),
            detail: Some("upload it first".into()),
        },
        json!({"type": "mutation_result", "id": "m", "ok": false, "retry": true,
               "code": "unknown-attachment", "detail": "upload it first"}),
    );
    frozen(ServerMessage::Pong { nonce: Some(1) }, json!({"type": "pong", "nonce": 1}));
    frozen(
        ServerMessage::Error { code: "unsupported-protocol".into(), detail: None, supported: Some(vec![1]) },
        json!({"type": "error", "code": "unsupported-protocol", "supported": [1]}),
    );
}

#[test]
fn unknown_fields_types_and_kinds_are_ignored() {
    let hello: ClientMessage = serde_json::from_value(
        json!({"type": "hello", "protocol": 1, "device_id": "d", "cursor": 3, "app": "2.1", "extra": {"x": 1}}),
    )
    .unwrap();
    assert_eq!(hello, ClientMessage::Hello { protocol: 1, device_id: "d".into(), cursor: 3 });
    let later: ClientMessage = serde_json::from_value(json!({"type": "subscribe", "topic": "x"})).unwrap();
    assert_eq!(later, ClientMessage::Unknown);
    let mutate: ClientMessage =
        serde_json::from_value(json!({"type": "mutate", "id": "m", "op": {"kind": "teleport", "to": "moon"}})).unwrap();
    assert_eq!(mutate, ClientMessage::Mutate { id: "m".into(), op: op(OpKind::Unknown) });
    let server: ServerMessage = serde_json::from_value(json!({"type": "announcement", "text": "hi"})).unwrap();
    assert_eq!(server, ServerMessage::Unknown);
    let changes: ServerMessage =
        serde_json::from_value(json!({"type": "changes", "cursor": 1, "items": [], "compressed": false})).unwrap();
    assert_eq!(changes, ServerMessage::Changes { cursor: 1, items: vec![], committed_at_ms: None });
}

#[test]
fn malformed_messages_are_errors_not_panics() {
    for bad in [json!([]), json!({"type": 5}), json!({"type": "hello"}), json!({"type": "ack", "cursor": "x"})] {
        assert!(serde_json::from_value::<ClientMessage>(bad.clone()).is_err(), "{bad}");
    }
}

#[test]
fn the_decoder_reads_frames_and_reads_back_what_it_encodes() {
    let frame =
        r#"{"type":"mutate","id":"m1","op":{"kind":"arrive","task_id":"t","location":{"lon":118.3,"lat":33.9}}}"#;
    let message = ClientMessage::decode(frame).unwrap();
    let at = Location { lon: 118.3, lat: 33.9, crs: None };
    assert_eq!(
        message,
        ClientMessage::Mutate { id: "m1".into(), op: op(OpKind::Arrive { task_id: "t".into(), location: Some(at) }) }
    );
    assert_eq!(ClientMessage::decode(&message.encode()).unwrap(), message);
    for bad in ["", "{", "[]", r#"{"type":"ack"}"#, "\u{0}"] {
        assert!(ClientMessage::decode(bad).is_err(), "{bad:?}");
    }
}
