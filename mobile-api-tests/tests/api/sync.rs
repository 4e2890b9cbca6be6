//! Phones over real WebSockets (the reference client) against real servers, on SQLite
//! and PostgreSQL: tasks reach every connected phone of their worker and no one else's,
//! an offline phone catches up in order from its cursor, a reinstalled one gets a
//! snapshot, a mutation lands once however often it is sent, a photo not yet uploaded
//! is answered `retry`, and bad clients are refused or cut off.

use std::time::Duration;

use mobile_api_tests::{TestServer, demo_point, servers};
use serde_json::{Value, json};
use sync_protocol::phone::{Phone, PhoneError};
use sync_protocol::{ClientMessage, Op, OpKind, ServerMessage, codes};

use crate::support::{WAIT, case, connect_fresh, report_and_dispatch};

fn holds(phone: &Phone, task: &str) -> bool {
    phone.state.tasks().any(|(id, _)| id == task)
}

fn op(kind: OpKind) -> Op {
    Op { kind, occurred_at: None }
}

#[tokio::test]
async fn a_dispatched_task_reaches_both_of_the_workers_phones_and_no_one_else() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let grid = demo_point(0).2;
        let other_grid = demo_point(1).2;
        let mut phone = server.phone(&format!("worker-{grid}"), "phone").await.unwrap();
        let mut tablet = server.phone(&format!("worker-{grid}"), "tablet").await.unwrap();
        let mut stranger = server.phone(&format!("worker-{other_grid}"), "phone").await.unwrap();
        for p in [&mut phone, &mut tablet, &mut stranger] {
            connect_fresh(p).await;
        }
        let (_, task, _) = report_and_dispatch(&server, &centre, 0).await;
        for p in [&mut phone, &mut tablet] {
            p.until(WAIT, |s| s.tasks().any(|(id, _)| id == task)).await.unwrap();
            let data = p.state.tasks().find(|(id, _)| *id == task).unwrap().1.clone();
            assert_eq!(data["kind"], "handle");
            assert_eq!(data["status"], "open");
            assert!(data["incident_id"].is_string() && data["deadline"].is_string(), "{data}");
        }
        // The other grid's worker hears nothing of it.
        match stranger.recv(Duration::from_millis(700)).await {
            Err(PhoneError::Timeout) => {}
            other => panic!("another grid's worker received {other:?}"),
        }
        assert!(!holds(&stranger, &task));
    }
}

#[tokio::test]
async fn an_offline_phone_gets_every_task_in_order_from_its_cursor() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let grid = demo_point(2).2;
        let dir = std::env::temp_dir().join(format!("gridlink-phone-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let token = server.login(&format!("worker-{grid}")).await.unwrap();
        let store = dir.join("phone.json");
        let mut phone = Phone::stored(server.ws_url(), token.clone(), "phone", &store).unwrap();
        // A first case, so that the log has a number for the phone to stand on.
        report_and_dispatch(&server, &centre, 2).await;
        connect_fresh(&mut phone).await;
        assert!(phone.state.cursor > 0);
        phone.disconnect().await;
        let mut tasks = Vec::new();
        for _ in 0..3 {
            tasks.push(report_and_dispatch(&server, &centre, 2).await.1);
        }
        // The app restarts from what it stored: same cursor, no reset.
        let mut phone = Phone::stored(server.ws_url(), token, "phone", &store).unwrap();
        let before = phone.state.cursor;
        phone.connect().await.unwrap();
        let mut seen = Vec::new();
        while seen.len() < 3 {
            match phone.recv(WAIT).await.unwrap() {
                ServerMessage::Changes { items, .. } => {
                    assert!(items.iter().all(|i| i.seq > before));
                    seen.extend(items.into_iter().filter(|i| i.kind == "task").map(|i| (i.seq, i.id)));
                }
                ServerMessage::Reset => panic!("a stored cursor must not reset"),
                _ => {}
            }
        }
        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "in log order: {seen:?}");
        assert_eq!(seen.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>(), tasks);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[tokio::test]
async fn a_reinstalled_phone_gets_a_snapshot_of_its_open_tasks() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let (_, task, grid) = report_and_dispatch(&server, &centre, 3).await;
        let mut phone = server.phone(&format!("worker-{grid}"), "fresh-install").await.unwrap();
        phone.connect().await.unwrap();
        assert_eq!(phone.recv(WAIT).await.unwrap(), ServerMessage::Reset);
        phone.until(WAIT, |s| !s.rebuilding).await.unwrap();
        assert!(holds(&phone, &task), "{:?}", phone.state.held);
        assert!(phone.state.held.get("incident").is_some_and(|cases| !cases.is_empty()));
        // Taken and completed, it stays with the holder; the case moves on.
        mutate_ok(&mut phone, "m-accept", OpKind::AcceptTask { task_id: task.clone() }).await;
        phone.until(WAIT, |s| s.tasks().any(|(id, t)| id == task && t["status"] == "accepted")).await.unwrap();
    }
}

#[tokio::test]
async fn a_completion_sent_three_times_over_two_connections_lands_once() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let (case_id, task, grid) = report_and_dispatch(&server, &centre, 4).await;
        let token = server.login(&format!("worker-{grid}")).await.unwrap();
        let mut phone = Phone::new(server.ws_url(), token.clone(), "phone");
        phone.connect().await.unwrap();
        mutate_ok(&mut phone, "accept-1", OpKind::AcceptTask { task_id: task.clone() }).await;
        // Offline: the phone does the work and queues the completion, stamped when done.
        phone.drop_connection();
        let done = Op {
            kind: OpKind::CompleteTask {
                task_id: task.clone(),
                result: "已更换井盖".into(),
                photos: vec![],
                location: None,
            },
            occurred_at: Some("2020-01-01T00:00:00Z".into()),
        };
        phone.mutate("complete-1", done.clone()).await.unwrap();
        // Back online: the outbox goes out after the welcome; the app sends it once more.
        phone.connect().await.unwrap();
        phone.send(&ClientMessage::Mutate { id: "complete-1".into(), op: done.clone() }).await.unwrap();
        let mut results = 0;
        while results < 2 {
            if let ServerMessage::MutationResult { id, ok, .. } = phone.recv(WAIT).await.unwrap() {
                assert_eq!(id, "complete-1");
                assert!(ok);
                results += 1;
            }
        }
        // And a third time from a second connection of the same device.
        let mut again = Phone::new(server.ws_url(), token, "phone");
        again.mutate("complete-1", done).await.unwrap();
        again.connect().await.unwrap();
        again.until(WAIT, |s| s.answers.contains_key("complete-1")).await.unwrap();
        assert!(again.state.answers["complete-1"].ok);
        let case = case(&server, &centre, &case_id).await;
        assert_eq!(case["status"], "handled");
        let completions =
            case["history"].as_array().unwrap().iter().filter(|e| e["action"] == "task_completed").count();
        assert_eq!(completions, 1, "{case}");
        // The offline time is clamped to when the task was sent, not taken as 2020.
        let completed = case["history"].as_array().unwrap().iter().find(|e| e["action"] == "task_completed").unwrap();
        assert!(completed["at"].as_str().unwrap() >= case["history"][2]["at"].as_str().unwrap(), "{completed}");
    }
}

#[tokio::test]
async fn a_photo_not_yet_uploaded_is_answered_retry_and_lands_after_the_upload() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let (case_id, task, grid) = report_and_dispatch(&server, &centre, 5).await;
        let mut phone = server.phone(&format!("worker-{grid}"), "phone").await.unwrap();
        phone.connect().await.unwrap();
        mutate_ok(&mut phone, "a", OpKind::AcceptTask { task_id: task.clone() }).await;
        let photo = b"\xFF\xD8\xFF\xE0 after the repair".to_vec();
        let id = gridlink::attachments::id_of(&photo);
        let complete = op(OpKind::CompleteTask {
            task_id: task.clone(),
            result: "done".into(),
            photos: vec![id.clone()],
            location: None,
        });
        phone.mutate("c", complete.clone()).await.unwrap();
        loop {
            if let ServerMessage::MutationResult { id, ok, retry, code, .. } = phone.recv(WAIT).await.unwrap() {
                assert_eq!((id.as_str(), ok, retry, code.as_deref()), ("c", false, true, Some("unknown-attachment")));
                break;
            }
        }
        assert_eq!(phone.state.outbox.len(), 1, "a retry stays in the outbox");
        let response = server
            .client
            .post(format!("{}/api/v1/attachments", server.base))
            .header("content-type", "image/jpeg")
            .body(photo)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        phone.send(&ClientMessage::Mutate { id: "c".into(), op: complete }).await.unwrap();
        phone.until(WAIT, |s| s.answers.contains_key("c")).await.unwrap();
        assert!(phone.state.answers["c"].ok);
        let case = case(&server, &centre, &case_id).await;
        let completed = case["history"].as_array().unwrap().iter().find(|e| e["action"] == "task_completed").unwrap();
        assert_eq!(completed["data"]["photos"], json!([id]));
    }
}

#[tokio::test]
async fn a_workers_own_finding_is_taken_in_and_routed_at_once() {
    let server = TestServer::spawn().await.unwrap();
    let (lon, lat, grid) = demo_point(6);
    let mut phone = server.phone(&format!("worker-{grid}"), "phone").await.unwrap();
    phone.connect().await.unwrap();
    let case_id = uuid::Uuid::new_v4().to_string();
    let finding = OpKind::ReportIncident {
        incident_id: case_id.clone(),
        category: "C0101".into(),
        location: sync_protocol::Location { lon, lat, crs: None },
        description: "巡查发现井盖缺失".into(),
        photos: vec![],
        severity: None,
        handled: None,
    };
    mutate_ok(&mut phone, "f", finding).await;
    let centre = server.login("centre").await.unwrap();
    let case = case(&server, &centre, &case_id).await;
    // Taken in and routed by the rules at once (a worker's own finding):
    // nobody is on the grid's roster, so to its community, with the department told.
    assert_eq!(case["status"], "dispatched", "{case}");
    assert_eq!(case["source"], "worker");
    assert_eq!(case["grid"]["code"], grid.as_str());
    assert_eq!(case["tasks"][0]["target"]["unit"], &grid[..12], "{case}");
    let history = case["history"].as_array().unwrap();
    let registered = history.iter().find(|e| e["action"] == "registered").unwrap();
    assert_eq!(registered["data"]["rule"], "own-finding", "{registered}");
    let dispatched = history.iter().find(|e| e["action"] == "dispatched").unwrap();
    assert_eq!(
        (dispatched["actor"]["role"].as_str(), dispatched["data"]["rule"].as_str()),
        (Some("system"), Some("nobody-on-duty"))
    );
}

/// An upgrade without a valid token is answered before any upgrade, like any staff route
/// refused: 401 with a problem+json body, and the connection closed after it.
#[tokio::test]
async fn a_refused_upgrade_is_answered_401_problem_json() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::spawn().await.unwrap();
    let address = server.base.trim_start_matches("http://").to_owned();
    for path in ["/api/v1/sync", "/api/v1/sync?token=not-a-token"] {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(WAIT, stream.read_to_end(&mut answer)).await.unwrap().unwrap();
        let answer = String::from_utf8_lossy(&answer).to_lowercase();
        assert!(answer.starts_with("http/1.1 401"), "{path}: {answer:?}");
        assert!(answer.contains("content-type: application/problem+json"), "{path}: {answer}");
        assert!(answer.contains("\"status\":401"), "{path}: {answer}");
    }
}

#[tokio::test]
async fn bad_sockets_are_refused_or_cut_off() {
    let server = TestServer::spawn().await.unwrap();
    let grid = demo_point(7).2;
    // No token, a wrong one, and a logged-out one: refused before the upgrade.
    for token in ["", "0000", "not-a-token"] {
        let mut phone = Phone::new(server.ws_url(), token, "d");
        assert!(matches!(phone.connect().await, Err(PhoneError::Socket(_))), "token {token:?}");
    }
    let token = server.login(&format!("worker-{grid}")).await.unwrap();
    let (status, _) = server.post_as(&token, "/api/v1/auth/logout", &json!({})).await.unwrap();
    assert_eq!(status, 204);
    let mut phone = Phone::new(server.ws_url(), token, "d");
    assert!(matches!(phone.connect().await, Err(PhoneError::Socket(_))), "a revoked session");
    // The token in the query works (browsers), and never reaches the logs' URL.
    let token = server.login(&format!("worker-{grid}")).await.unwrap();
    let mut phone = Phone::new(server.ws_url(), token.clone(), "d").with_token_in_query();
    assert!(phone.connect().await.is_ok());
    phone.disconnect().await;
    // A flood is cut off with its close code.
    let mut flood = Phone::new(server.ws_url(), token, "flood");
    flood.connect().await.unwrap();
    let mut closed = None;
    for i in 0..2000 {
        if flood.send(&ClientMessage::Ping { nonce: Some(i) }).await.is_err() {
            break;
        }
    }
    for _ in 0..3000 {
        match flood.recv(WAIT).await {
            Ok(_) => {}
            Err(PhoneError::Closed(frame)) => {
                closed = frame;
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(closed.map(|(code, _)| code), Some(codes::CLOSE_FLOODING));
}

/// A centre keeping up with a busy area acknowledges every frame, as the protocol asks;
/// those acks must not count against its flood limit, or it is cut off for keeping up.
/// Acks that release nothing still count.
#[tokio::test]
async fn acks_of_frames_sent_are_not_a_flood_and_repeated_acks_are() {
    use mobile_api_tests::Backend;

    use crate::support::report;
    // One frame a second, bursts of ten: 30 acknowledged frames are three times the burst.
    let server = TestServer::spawn_with(Backend::Sqlite, |s| {
        s.sync.frames_per_second = 1;
        s.limits.reports_burst = 10_000;
    })
    .await
    .unwrap()
    .unwrap();
    let mut centre = server.phone("centre", "screen").await.unwrap();
    connect_fresh(&mut centre).await;
    let mut frames = 0;
    for nth in 0..30 {
        report(&server, nth).await;
        let before = centre.state.cursor;
        // `recv` acknowledges each frame it takes in.
        while centre.state.cursor == before {
            match centre.recv(WAIT).await {
                Ok(ServerMessage::Changes { .. }) => frames += 1,
                Ok(_) => {}
                Err(e) => panic!("report {nth}, after {frames} frames acknowledged: {e}"),
            }
        }
    }
    assert!(frames >= 30, "{frames} frames");
    // The same cursor again and again releases nothing: that is a flood.
    let cursor = centre.state.cursor;
    for _ in 0..40 {
        if centre.send(&ClientMessage::Ack { cursor }).await.is_err() {
            break;
        }
    }
    assert_eq!(closed_with(&mut centre).await, Some(codes::CLOSE_FLOODING));
}

#[tokio::test]
async fn an_unsupported_protocol_is_told_what_is_supported() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let server = TestServer::spawn().await.unwrap();
    let token = server.login("centre").await.unwrap();
    let mut request = server.ws_url().into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket.send(Message::text(r#"{"type":"hello","protocol":99,"device_id":"d","cursor":0}"#)).await.unwrap();
    let reply = socket.next().await.unwrap().unwrap();
    let reply: Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
    assert_eq!(reply["type"], "error");
    assert_eq!(reply["code"], codes::UNSUPPORTED_PROTOCOL);
    assert_eq!(reply["supported"], json!([1]));
    match socket.next().await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), codes::CLOSE_PROTOCOL),
        other => panic!("expected a close, got {other:?}"),
    }
}

#[tokio::test]
async fn logging_out_closes_the_devices_socket() {
    let server = TestServer::spawn().await.unwrap();
    let grid = demo_point(8).2;
    let body = json!({"login": format!("worker-{grid}"), "password": "demo", "device_id": "phone"});
    let (status, _, login) = server.post("/api/v1/auth/login", &body).await.unwrap();
    assert_eq!(status, 200);
    let token = login["token"].as_str().unwrap().to_owned();
    let mut phone = Phone::new(server.ws_url(), token.clone(), "phone");
    connect_fresh(&mut phone).await;
    let (status, _) = server.post_as(&token, "/api/v1/auth/logout", &json!({})).await.unwrap();
    assert_eq!(status, 204);
    loop {
        match phone.recv(WAIT).await {
            Ok(_) => {}
            Err(PhoneError::Closed(frame)) => {
                assert_eq!(frame.map(|(code, _)| code), Some(codes::CLOSE_LOGGED_OUT));
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(phone.connect().await.is_err(), "the session is gone");
}

#[tokio::test]
async fn a_phone_whose_user_changed_scope_starts_again_from_a_snapshot() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let (_, first, grid) = report_and_dispatch(&server, &centre, 10).await;
        let worker = format!("worker-{grid}");
        let token = server.login(&worker).await.unwrap();
        let mut phone = Phone::new(server.ws_url(), token, "phone");
        connect_fresh(&mut phone).await;
        assert!(holds(&phone, &first));
        phone.disconnect().await;
        // The worker moves to another grid (an administrator's `gridlink users move`).
        let other = demo_point(11).2;
        let db = gridlink::store::Database::open(&server.database_url, 1).unwrap();
        let user = db.read(|c| gridlink::auth::user_by_login(c, &worker)).unwrap().unwrap();
        db.write(|c| gridlink::auth::move_user(c, &user.id, gridlink::auth::Role::GridWorker, &other)).unwrap();
        // Reconnecting with the stored cursor is not enough: the phone is reset.
        let cursor = phone.state.cursor;
        assert!(cursor > 0);
        phone.set_token(server.login(&worker).await.unwrap());
        phone.connect().await.unwrap();
        assert_eq!(phone.recv(WAIT).await.unwrap(), ServerMessage::Reset);
        phone.until(WAIT, |s| !s.rebuilding).await.unwrap();
        assert!(holds(&phone, &first), "the task sent to the worker personally stays theirs");
    }
}

/// Sends `op` from `phone` as mutation `id` and waits for its answer, which must be ok.
async fn mutate_ok(phone: &mut Phone, id: &str, kind: OpKind) {
    phone.mutate(id, op(kind)).await.unwrap();
    phone.until(WAIT, |s| s.answers.contains_key(id)).await.unwrap();
    let answer = &phone.state.answers[id];
    assert!(answer.ok, "{id}: {answer:?}");
}

async fn act_ok(server: &TestServer, centre: &str, id: &str, body: Value) -> Value {
    let (status, case) = server.post_as(centre, &format!("/api/v1/incidents/{id}/actions"), &body).await.unwrap();
    assert_eq!(status, 200, "{body}: {case}");
    case
}

#[tokio::test]
async fn a_task_redispatched_to_another_grid_moves_from_one_workers_phone_to_the_others() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let (first_grid, second_grid) = (demo_point(6).2, demo_point(7).2);
        let mut first = server.phone(&format!("worker-{first_grid}"), "phone").await.unwrap();
        let mut second = server.phone(&format!("worker-{second_grid}"), "phone").await.unwrap();
        connect_fresh(&mut first).await;
        connect_fresh(&mut second).await;

        // 改派 of a task its holder is working on: withdrawn from them, sent to the other grid.
        let (case_id, task, _) = report_and_dispatch(&server, &centre, 6).await;
        first.until(WAIT, |s| s.tasks().any(|(id, _)| id == task)).await.unwrap();
        mutate_ok(&mut first, "accept-1", OpKind::AcceptTask { task_id: task.clone() }).await;
        let body = json!({"action": "redispatch", "task": task, "to": {"grid": second_grid}});
        let moved = act_ok(&server, &centre, &case_id, body).await;
        assert_eq!(moved["status"], "dispatched");
        let new_task = moved["tasks"].as_array().unwrap().last().unwrap()["id"].as_str().unwrap().to_owned();
        assert_ne!(new_task, task);
        first.until(WAIT, |s| !s.tasks().any(|(id, _)| id == task)).await.unwrap();
        second.until(WAIT, |s| s.tasks().any(|(id, _)| id == new_task)).await.unwrap();
        assert!(!holds(&second, &task) && !holds(&first, &new_task));
        // The first worker's phone, still holding its offline work, is told the task is gone.
        first
            .mutate(
                "late-progress",
                op(OpKind::Progress { task_id: task.clone(), text: "到场".into(), photos: vec![] }),
            )
            .await
            .unwrap();
        first.until(WAIT, |s| s.answers.contains_key("late-progress")).await.unwrap();
        assert_eq!(first.state.answers["late-progress"].code.as_deref(), Some("task-not-active"));

        // 回退 from the phone: the case waits for the centre, which sends it back to the first grid.
        mutate_ok(&mut second, "accept-2", OpKind::AcceptTask { task_id: new_task.clone() }).await;
        mutate_ok(
            &mut second,
            "return-2",
            OpKind::ReturnTask { task_id: new_task.clone(), reason: "不属本网格".into() },
        )
        .await;
        second.until(WAIT, |s| !s.tasks().any(|(id, _)| id == new_task)).await.unwrap();
        let returned = case(&server, &centre, &case_id).await;
        assert_eq!(returned["status"], "returned", "{returned}");
        let event = returned["history"].as_array().unwrap().iter().find(|e| e["action"] == "task_returned").unwrap();
        assert_eq!(event["data"]["reason"], "不属本网格", "{event}");
        let body = json!({"action": "redispatch", "task": new_task, "to": {"grid": first_grid}});
        let back = act_ok(&server, &centre, &case_id, body).await;
        assert_eq!(back["status"], "dispatched");
        let third_task = back["tasks"].as_array().unwrap().last().unwrap()["id"].as_str().unwrap().to_owned();
        first.until(WAIT, |s| s.tasks().any(|(id, _)| id == third_task)).await.unwrap();
        // A returned task is not sent elsewhere twice.
        let (status, problem) = server
            .post_as(
                &centre,
                &format!("/api/v1/incidents/{case_id}/actions"),
                &json!({"action": "redispatch", "task": new_task, "to": {"grid": second_grid}}),
            )
            .await
            .unwrap();
        assert_eq!((status, problem["type"].as_str().unwrap().ends_with("task-not-active")), (409, true), "{problem}");
    }
}

#[tokio::test]
async fn more_time_asked_from_a_phone_and_granted_moves_the_deadline_on_the_phone() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let (case_id, task, grid) = report_and_dispatch(&server, &centre, 8).await;
        let mut phone = server.phone(&format!("worker-{grid}"), "phone").await.unwrap();
        connect_fresh(&mut phone).await;
        mutate_ok(&mut phone, "accept", OpKind::AcceptTask { task_id: task.clone() }).await;
        let deadline = |p: &Phone| p.state.tasks().find(|(id, _)| *id == task).map(|(_, d)| d["deadline"].clone());
        let before = deadline(&phone).unwrap();
        let until = "2099-01-01T17:30:00+08:00";
        let ask =
            OpKind::RequestExtension { task_id: task.clone(), until: until.into(), reason: "等待配件".into() };
        mutate_ok(&mut phone, "more-time", ask.clone()).await;
        // The request shows on the phone's task and on the desk's, until it is answered.
        phone
            .until(WAIT, |s| {
                s.tasks().any(|(id, d)| id == task && d["extension_requested"]["until"] == "2099-01-01T09:30:00Z")
            })
            .await
            .unwrap();
        let desk = case(&server, &centre, &case_id).await;
        assert_eq!(desk["tasks"][0]["extension_requested"]["reason"], "等待配件", "{desk}");
        let (status, problem) = server
            .post_as(
                &centre,
                &format!("/api/v1/incidents/{case_id}/actions"),
                &json!({"action": "refuse_extension", "task": task}),
            )
            .await
            .unwrap();
        assert_eq!(status, 422, "a refusal needs a reason: {problem}");
        // Asked twice: the second request waits behind the first and is refused, not queued.
        phone.mutate("more-time-again", op(ask)).await.unwrap();
        phone.until(WAIT, |s| s.answers.contains_key("more-time-again")).await.unwrap();
        assert_eq!(phone.state.answers["more-time-again"].code.as_deref(), Some("extension-pending"));
        let (status, problem) = server
            .post_as(
                &centre,
                &format!("/api/v1/incidents/{case_id}/actions"),
                &json!({"action": "approve_extension", "task": "not-a-task"}),
            )
            .await
            .unwrap();
        assert_eq!(status, 400, "{problem}");
        act_ok(&server, &centre, &case_id, json!({"action": "approve_extension", "task": task})).await;
        phone.until(WAIT, |s| s.tasks().any(|(id, d)| id == task && d["deadline"] != before)).await.unwrap();
        let after = deadline(&phone).unwrap();
        assert!(phone.state.tasks().any(|(id, d)| id == task && d.get("extension_requested").is_none()));
        assert_eq!(after.as_str().map(|s| s.starts_with("2099-01-01T09:30:00")), Some(true), "{after}");
    }
}

#[tokio::test]
async fn a_worker_checks_another_workers_work_on_site_from_the_phone() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let (case_id, task, grid) = report_and_dispatch(&server, &centre, 9).await;
        let checker_grid = demo_point(10).2;
        let mut handler = server.phone(&format!("worker-{grid}"), "phone").await.unwrap();
        let mut checker = server.phone(&format!("worker-{checker_grid}"), "phone").await.unwrap();
        connect_fresh(&mut handler).await;
        connect_fresh(&mut checker).await;
        mutate_ok(&mut handler, "accept", OpKind::AcceptTask { task_id: task.clone() }).await;
        let done =
            OpKind::CompleteTask { task_id: task.clone(), result: "已清理".into(), photos: vec![], location: None };
        mutate_ok(&mut handler, "done", done).await;
        // The handler's own grid may not check the work: its only worker handled it.
        let (status, problem) = server
            .post_as(
                &centre,
                &format!("/api/v1/incidents/{case_id}/actions"),
                &json!({"action": "request_verification", "to": {"grid": grid}}),
            )
            .await
            .unwrap();
        assert_eq!(status, 409, "{problem}");
        let case =
            act_ok(&server, &centre, &case_id, json!({"action": "request_verification", "to": {"grid": checker_grid}}))
                .await;
        let check = case["tasks"].as_array().unwrap().last().unwrap();
        assert_eq!(check["kind"], "verify");
        let check = check["id"].as_str().unwrap().to_owned();
        checker.until(WAIT, |s| s.tasks().any(|(id, _)| id == check)).await.unwrap();
        mutate_ok(&mut checker, "take", OpKind::AcceptTask { task_id: check.clone() }).await;
        let verdict = OpKind::Verify { task_id: check.clone(), passed: true, note: "已复核".into(), photos: vec![] };
        mutate_ok(&mut checker, "verdict", verdict).await;
        let case = act_ok(&server, &centre, &case_id, json!({"action": "close"})).await;
        assert_eq!(case["status"], "closed");
    }
}

/// Waits for the server to close `phone`'s socket; the close code.
async fn closed_with(phone: &mut Phone) -> Option<u16> {
    loop {
        match phone.recv(Duration::from_secs(15)).await {
            Ok(_) => {}
            Err(PhoneError::Closed(frame)) => return frame.map(|(code, _)| code),
            Err(e) => panic!("the socket was not closed: {e}"),
        }
    }
}

#[tokio::test]
async fn a_session_ended_in_another_process_closes_its_socket() {
    for server in servers().await {
        let (revoked_grid, moved_grid) = (demo_point(12).2, demo_point(13).2);
        // A token revoked behind the server's back (another node, an administrator).
        let token = server.login(&format!("worker-{revoked_grid}")).await.unwrap();
        let mut revoked = Phone::new(server.ws_url(), token.clone(), "phone");
        connect_fresh(&mut revoked).await;
        // A user moved to another grid by `gridlink users move`, another process.
        let worker = format!("worker-{moved_grid}");
        let mut moved = server.phone(&worker, "phone").await.unwrap();
        connect_fresh(&mut moved).await;

        let db = gridlink::store::Database::open(&server.database_url, 1).unwrap();
        db.write(|c| gridlink::auth::revoke_session(c, &token, gridlink::clock::now_ms())).unwrap();
        let user = db.read(|c| gridlink::auth::user_by_login(c, &worker)).unwrap().unwrap();
        let elsewhere = demo_point(14).2;
        db.write(|c| gridlink::auth::move_user(c, &user.id, gridlink::auth::Role::GridWorker, &elsewhere)).unwrap();

        assert_eq!(closed_with(&mut revoked).await, Some(codes::CLOSE_LOGGED_OUT));
        assert_eq!(closed_with(&mut moved).await, Some(codes::CLOSE_RESCOPED));
        // Its token still stands: the phone reconnects and starts again from a snapshot.
        moved.connect().await.unwrap();
        assert_eq!(moved.recv(WAIT).await.unwrap(), ServerMessage::Reset);
        assert!(revoked.connect().await.is_err(), "a revoked token opens no socket");
    }
}
