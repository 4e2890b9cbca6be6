//! The statistics against figures computed by hand, on both backends: eight cases walked
//! through the loop on a test clock — closed first time, reworked after a failed 核查,
//! reopened by an unsatisfied rating, rejected, merged, left overdue, extended and parked,
//! and self-handled by the worker who found it — then every figure checked, the CSV
//! against the JSON, the worker's own figures, the ranking's minimum sample, and bad
//! input refused.

use diesel::connection::SimpleConnection;
use mobile_api_tests::{TestServer, demo_point, servers_with};
use serde_json::{Value, json};

use crate::support::{act, ok, task_op};

const HOUR: i64 = 3_600_000;
/// Where the cases are reported: one grid, so that its township holds them all.
const NTH: usize = 31;

/// A resident's report in the test grid: its id and follow token.
async fn report(server: &TestServer, category: &str, token: Option<&str>) -> (String, String) {
    let (lon, lat, _) = demo_point(NTH);
    let body = json!({"category": category, "location": {"lon": lon, "lat": lat}, "description": "统计测试"});
    let (status, opened) = match token {
        Some(token) => server.post_as(token, "/api/v1/reports", &body).await.unwrap(),
        None => {
            let (status, _, opened) = server.post("/api/v1/reports", &body).await.unwrap();
            (status, opened)
        }
    };
    assert_eq!(status, 201, "{opened}");
    (opened["id"].as_str().unwrap().to_owned(), opened["follow_token"].as_str().unwrap_or_default().to_owned())
}

fn lead_task(case: &Value) -> String {
    let tasks = case["tasks"].as_array().unwrap();
    let lead = tasks.iter().rev().find(|t| t["kind"] == "handle" && t["role"] == "lead").unwrap();
    lead["id"].as_str().unwrap().to_owned()
}

/// Takes a case in and sends it to the test grid: its lead task.
async fn dispatch(server: &TestServer, centre: &str, id: &str) -> String {
    ok("accept", act(server, centre, id, json!({"action": "accept"})).await);
    let grid = demo_point(NTH).2;
    lead_task(&ok("dispatch", act(server, centre, id, json!({"action": "dispatch", "to": {"grid": grid}})).await))
}

async fn complete(server: &TestServer, worker: &str, task: &str, take: bool) {
    if take {
        ok("take", task_op(server, worker, task, json!({"kind": "accept_task"})).await);
    }
    ok("complete", task_op(server, worker, task, json!({"kind": "complete_task", "result": "已处置"})).await);
}

async fn verify_and_close(server: &TestServer, centre: &str, id: &str) {
    ok("verify", act(server, centre, id, json!({"action": "verify", "passed": true})).await);
    ok("close", act(server, centre, id, json!({"action": "close"})).await);
}

async fn rate(server: &TestServer, id: &str, follow: &str, rating: &str) {
    let body = json!({"follow_token": follow, "rating": rating});
    let (status, _, answer) = server.post(&format!("/api/v1/reports/{id}/rating"), &body).await.unwrap();
    assert_eq!(status, 200, "{answer}");
}

async fn stats(server: &TestServer, token: &str, query: &str) -> Value {
    let (status, answer) = server.get_as(token, &format!("/api/v1/stats?{query}")).await.unwrap();
    assert_eq!(status, 200, "{query}: {answer}");
    answer
}

/// A figure's value.
fn value(figures: &Value, name: &str) -> Option<f64> {
    figures[name]["value"].as_f64()
}

/// A rate's numerator and denominator.
fn parts(figures: &Value, name: &str) -> (f64, i64) {
    (figures[name]["numerator"].as_f64().unwrap(), figures[name]["denominator"].as_i64().unwrap())
}

#[tokio::test]
async fn the_figures_match_those_counted_by_hand() {
    let monday_nine = gridlink::clock::parse_rfc3339("2026-03-02T09:00:00+08:00");
    for server in servers_with(|s| {
        s.test_clock = monday_nine;
        s.stats.min_sample = 2;
    })
    .await
    {
        let centre = server.login("centre").await.unwrap();
        let grid = demo_point(NTH).2;
        let worker = server.login(&format!("worker-{grid}")).await.unwrap();

        // A: closed first time, rated satisfied; taken in half an hour after the report.
        let (a, a_follow) = report(&server, "C0101", None).await;
        server.advance_clock(HOUR / 2).await.unwrap();
        let task = dispatch(&server, &centre, &a).await;
        complete(&server, &worker, &task, true).await;
        verify_and_close(&server, &centre, &a).await;
        rate(&server, &a, &a_follow, "satisfied").await;

        // B: the first 核查 fails (返工), the second passes; rated basic.
        let (b, b_follow) = report(&server, "C0101", None).await;
        let task = dispatch(&server, &centre, &b).await;
        complete(&server, &worker, &task, true).await;
        ok("fail", act(&server, &centre, &b, json!({"action": "verify", "passed": false, "note": "未修复"})).await);
        complete(&server, &worker, &task, false).await;
        verify_and_close(&server, &centre, &b).await;
        rate(&server, &b, &b_follow, "basic").await;

        // C: rated unsatisfied, which reopens it (返工); handled and closed again.
        let (c, c_follow) = report(&server, "C0101", None).await;
        let task = dispatch(&server, &centre, &c).await;
        complete(&server, &worker, &task, true).await;
        verify_and_close(&server, &centre, &c).await;
        rate(&server, &c, &c_follow, "unsatisfied").await;
        let reopened = crate::support::case(&server, &centre, &c).await;
        complete(&server, &worker, &lead_task(&reopened), false).await;
        verify_and_close(&server, &centre, &c).await;

        // D: rejected. E: merged into F, which is left open and runs past its limit.
        let (d, _) = report(&server, "C0101", None).await;
        ok("reject", act(&server, &centre, &d, json!({"action": "reject", "reason": "不属实"})).await);
        let (f, _) = report(&server, "C0101", None).await;
        let f_task = dispatch(&server, &centre, &f).await;
        ok("take", task_op(&server, &worker, &f_task, json!({"kind": "accept_task"})).await);
        let (e, _) = report(&server, "C0101", None).await;
        ok("merge", act(&server, &centre, &e, json!({"action": "merge", "into": f, "reason": "重复上报"})).await);
        // A week later F is overdue; nothing else is open.
        server.advance_clock(7 * 24 * HOUR).await.unwrap();
        server.settle(&["deadlines"]).await.unwrap();

        // G: extended once and parked once, still open and within its limit.
        let (g, _) = report(&server, "C0101", None).await;
        let g_task = dispatch(&server, &centre, &g).await;
        ok("take", task_op(&server, &worker, &g_task, json!({"kind": "accept_task"})).await);
        let until = gridlink::clock::rfc3339(server.advance_clock(0).await.unwrap() + 5 * 24 * HOUR);
        let ask = json!({"kind": "request_extension", "until": until, "reason": "需协调"});
        ok("ask for time", task_op(&server, &worker, &g_task, ask).await);
        ok("grant time", act(&server, &centre, &g, json!({"action": "approve_extension", "task": g_task})).await);
        ok(
            "ask to park",
            task_op(&server, &worker, &g_task, json!({"kind": "request_park", "reason": "待拆迁"})).await,
        );
        ok("park", act(&server, &centre, &g, json!({"action": "approve_park", "task": g_task})).await);
        ok("resume", act(&server, &centre, &g, json!({"action": "resume_task", "task": g_task})).await);

        // H: the worker's own finding of exposed rubbish, handled by them alone (自行处置).
        let (h, _) = report(&server, "C0301", Some(&worker)).await;
        let found = crate::support::case(&server, &centre, &h).await;
        assert_eq!(found["status"], "dispatched", "{found}");
        complete(&server, &worker, &lead_task(&found), true).await;
        verify_and_close(&server, &centre, &h).await;

        let period = "from=2026-03-01T00:00:00%2B08:00&to=2026-04-01T00:00:00%2B08:00";
        let answer = stats(&server, &centre, &format!("{period}&by=area")).await;
        let total = &answer["total"]["figures"];
        let counts = [
            ("reported", 8.0),
            ("registered", 6.0),
            ("rejected", 1.0),
            ("merged", 1.0),
            ("closed", 4.0),
            ("overdue_now", 1.0),
            ("rated", 3.0),
            ("extensions", 1.0),
            ("parked", 1.0),
        ];
        for (name, want) in counts {
            assert_eq!(value(total, name), Some(want), "{name}: {total}");
        }
        let rates = [
            ("closure_rate", (4.0, 6)),
            ("on_time_closure_rate", (4.0, 6)),
            ("rework_rate", (2.0, 4)),
            ("satisfaction_rate", (1.0, 3)),
            ("basic_satisfaction_rate", (2.0, 3)),
            ("self_handled_share", (1.0, 6)),
            ("on_time_dispatch_rate", (6.0, 6)),
            ("on_time_handling_rate", (4.0, 4)),
        ];
        for (name, want) in rates {
            assert_eq!(parts(total, name), want, "{name}: {total}");
            assert_eq!(value(total, name), Some(((want.0 / want.1 as f64) * 10_000.0).round() / 10_000.0), "{name}");
        }
        // 受理: A after half an hour, six others at once (E was merged untouched).
        assert_eq!(parts(total, "accept_hours_mean"), (0.5, 7));
        assert_eq!(value(total, "accept_hours_mean"), Some(0.07));
        assert_eq!(value(total, "accept_hours_p90"), Some(0.5));
        assert_eq!(value(total, "dispatch_hours_p90"), Some(0.0));
        // The score with the default weights: 30 % on-time closure, 20 % closure, 20 %
        // satisfaction, 15 % one minus rework, 15 % on-time dispatch.
        let score: f64 = 0.3 * 0.6667 + 0.2 * 0.6667 + 0.2 * 0.3333 + 0.15 * 0.5 + 0.15 * 1.0;
        assert_eq!(answer["total"]["score"]["value"].as_f64(), Some((score * 10_000.0).round() / 100.0));

        // Every case lies in one township: its group is the total, ranked (sample 6 ≥ 2).
        let groups = answer["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 1, "{answer}");
        assert_eq!(groups[0]["key"], &grid[..9]);
        assert_eq!(groups[0]["figures"], answer["total"]["figures"]);
        assert_eq!((groups[0]["score"]["rank"].as_u64(), groups[0]["score"]["sample"].as_i64()), (Some(1), Some(6)));

        // The CSV holds the same values as the JSON, row by row.
        let response = server
            .client
            .get(format!("{}/api/v1/stats?{period}&by=area", server.base))
            .bearer_auth(&centre)
            .header("accept", "text/csv")
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
        let text = response.text().await.unwrap();
        let mut lines = text.trim_start_matches('\u{feff}').lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let row: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!((row[0], header.len()), (&grid[..9], row.len()));
        for (column, cell) in header.iter().zip(&row).skip(2) {
            let want = match *column {
                "score" => groups[0]["score"]["value"].as_f64(),
                "sample" => groups[0]["score"]["sample"].as_f64(),
                "rank" => groups[0]["score"]["rank"].as_f64(),
                name => value(&groups[0]["figures"], name),
            };
            assert_eq!(cell.parse::<f64>().ok(), want, "{column}");
        }

        // By handler: the worker handled A, B, C and H, filed H (a valid report), and
        // answered no 核实.
        let by_worker = stats(&server, &centre, &format!("{period}&by=handler")).await;
        let theirs = &by_worker["groups"][0];
        assert_eq!(theirs["name"].as_str().map(|n| !n.is_empty()), Some(true), "{by_worker}");
        assert_eq!(parts(&theirs["figures"], "valid_report_rate"), (1.0, 1));
        assert_eq!(value(&theirs["figures"], "closed"), Some(4.0));
        assert_eq!(value(&theirs["figures"], "on_time_confirmation_rate"), None);
        assert_eq!(value(&by_worker["total"]["figures"], "reported"), Some(8.0), "the total is every case");

        // By category: the manhole covers and the rubbish apart.
        let by_category = stats(&server, &centre, &format!("{period}&by=category")).await;
        let keys: Vec<&str> =
            by_category["groups"].as_array().unwrap().iter().filter_map(|g| g["key"].as_str()).collect();
        assert_eq!(keys, ["C0101", "C0301"], "{by_category}");
        // By day: the first seven on 03-02, G and H on 03-09.
        let by_day = stats(&server, &centre, &format!("{period}&by=day")).await;
        let days: Vec<(&str, f64)> = by_day["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["key"].as_str().unwrap(), value(&g["figures"], "reported").unwrap()))
            .collect();
        assert_eq!(days, [("2026-03-02", 6.0), ("2026-03-09", 2.0)]);
        let by_month = stats(&server, &centre, &format!("{period}&by=month")).await;
        assert_eq!(by_month["groups"][0]["key"], "2026-03");
        // The heat view: eight cases in the one grid.
        let (status, heat) = server.get_as(&centre, &format!("/api/v1/stats/heat?{period}")).await.unwrap();
        assert_eq!(
            (status, heat["cells"][0]["code"].as_str(), heat["max"].as_i64()),
            (200, Some(grid.as_str()), Some(8))
        );

        // Another township sees none of it; a worker sees no figures.
        let (_, _, other) = (0..40).map(demo_point).find(|(_, _, g)| g[..9] != grid[..9]).unwrap();
        let elsewhere = server.login(&format!("township-{}", &other[..9])).await.unwrap();
        let theirs = stats(&server, &elsewhere, period).await;
        assert_eq!(value(&theirs["total"]["figures"], "reported"), Some(0.0));
        let (status, refused) = server.get_as(&elsewhere, &format!("/api/v1/stats?area={}", &grid[..9])).await.unwrap();
        assert_eq!((status, refused["type"].as_str()), (403, Some("forbidden")));
        let (status, _) = server.get_as(&worker, "/api/v1/stats").await.unwrap();
        assert_eq!(status, 403);
        for bad in [
            "from=yesterday",
            "from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z",
            "by=weekday",
            "category=C01%25",
            "area=12",
            &format!("by=area&area={grid}"),
            "colour=red",
        ] {
            let (status, problem) = server.get_as(&centre, &format!("/api/v1/stats?{bad}")).await.unwrap();
            assert_eq!((status, problem["type"].as_str()), (400, Some("bad-request")), "{bad}: {problem}");
        }
        let _ = (b, c, e);

        // A database from before the figures were kept: their rows gone, a restart folds
        // each case's trace into its row again, and every figure comes back the same.
        let db = gridlink::store::Database::open(&server.database_url, 1).unwrap();
        db.write(|c| c.batch_execute("DELETE FROM case_figures")).unwrap();
        let emptied = stats(&server, &centre, &format!("{period}&by=area")).await;
        assert_eq!(value(&emptied["total"]["figures"], "reported"), Some(0.0));
        let now = server.advance_clock(0).await.unwrap();
        let server = server
            .restart_with(move |s| {
                s.test_clock = Some(now);
                s.stats.min_sample = 2;
            })
            .await
            .unwrap();
        let centre = server.login("centre").await.unwrap();
        let again = stats(&server, &centre, &format!("{period}&by=area")).await;
        assert_eq!(again["total"], answer["total"]);
        assert_eq!(again["groups"], answer["groups"]);
    }
}
