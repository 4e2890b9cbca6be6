//! Two desks acting on the same case at the same instant, on SQLite and on PostgreSQL:
//! the one write path builds each command from the case as read under its row lock, so
//! exactly one of two escalations, or of two dispatches, commits and the other is refused
//! as the state it meets calls for — never both.

use mobile_api_tests::servers;
use serde_json::json;

use crate::support::{act, count, report};

/// Rounds per scenario: each a fresh case and two requests sent together.
const ROUNDS: usize = 12;

#[tokio::test]
async fn of_two_escalations_at_once_exactly_one_commits() {
    for server in servers().await {
        for round in 0..ROUNDS {
            let (id, grid) = report(&server, 20 + round).await;
            let township = server.login(&format!("township-{}", &grid[..9])).await.unwrap();
            let body = json!({"action": "escalate", "reason": "超出乡镇处置能力"});
            let (a, b) =
                tokio::join!(act(&server, &township, &id, body.clone()), act(&server, &township, &id, body.clone()));
            let mut statuses = [a.0, b.0];
            statuses.sort_unstable();
            // The second meets a case no longer in the township's queue: not theirs to escalate.
            assert_eq!(statuses, [200, 403], "round {round}: {a:?} {b:?}");
            let refusal = if a.0 == 403 { &a.1 } else { &b.1 };
            assert_eq!(refusal["type"], "forbidden", "{refusal}");
            let (_, case) = server.get_as(&township, &format!("/api/v1/incidents/{id}")).await.unwrap();
            assert_eq!(count(&case, "escalated"), 1, "round {round}: {case}");
            assert_eq!(case["queue"], &grid[..6], "round {round}: the case sits in the county's queue");
            assert_eq!(case["level"], 2, "round {round}: handled at the county now");
        }
    }
}

#[tokio::test]
async fn of_two_dispatches_at_once_exactly_one_commits() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        for round in 0..ROUNDS {
            let (id, grid) = report(&server, 40 + round).await;
            let (status, _) = act(&server, &centre, &id, json!({"action": "accept"})).await;
            assert_eq!(status, 200);
            let body = json!({"action": "dispatch", "to": {"grid": grid}});
            let (a, b) =
                tokio::join!(act(&server, &centre, &id, body.clone()), act(&server, &centre, &id, body.clone()));
            let mut statuses = [a.0, b.0];
            statuses.sort_unstable();
            assert_eq!(statuses, [200, 409], "round {round}: {a:?} {b:?}");
            let refusal = if a.0 == 409 { &a.1 } else { &b.1 };
            assert_eq!(refusal["type"], "illegal-transition", "{refusal}");
            let (_, case) = server.get_as(&centre, &format!("/api/v1/incidents/{id}")).await.unwrap();
            assert_eq!(count(&case, "dispatched"), 1, "round {round}: {case}");
            assert_eq!(case["tasks"].as_array().unwrap().len(), 1, "round {round}: one task, not two");
        }
    }
}
