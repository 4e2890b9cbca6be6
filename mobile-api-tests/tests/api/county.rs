//! The county simulation (`loadgen county`, `mobile_api_tests::county`) at a small scale
//! against a real server on SQLite: residents report from addresses of their own (the
//! server trusts loopback as the load balancer that says so), the centre accepts,
//! dispatches, verifies and closes from its socket, six workers' phones take and complete
//! their tasks by socket mutations, three in ten of the mutations followed by a lost
//! connection so that outboxes send them again. Every check of the scenario must pass:
//! every case closed, none lost or made twice, nothing applied or delivered twice.

use std::time::Duration;

use mobile_api_tests::county::{Arrivals, CountyPlan, county, demo_grid_count};
use mobile_api_tests::{Backend, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_county_closes_every_case_once() {
    let server = TestServer::spawn_with(Backend::Sqlite, |settings| {
        settings.proxy.header = Some("X-Forwarded-For".into());
        settings.proxy.proxies = vec!["127.0.0.1".into()];
    })
    .await
    .unwrap()
    .unwrap();
    let mut plan = CountyPlan::new(vec![server.base.clone()], demo_grid_count().unwrap(), 10.0, Duration::from_secs(8));
    plan.rate = Some(2.5);
    plan.arrivals = Arrivals::Even;
    plan.grid_limit = Some(6);
    plan.drop_share = 0.3;
    plan.work_max = Duration::from_millis(300);
    plan.drain = Duration::from_secs(15);
    plan.seed = 19;
    plan.progress = false;
    let report = county(&plan).await.unwrap();
    eprintln!("{}", report.text);
    assert!(report.passed(), "{}", report.text);
    assert!(report.checks.len() >= 9, "{}", report.text);
    assert!(report.cases >= 15, "{}", report.text);
    assert!(
        report.planned_drops > 0 && report.resent > 0,
        "the outboxes' resending was not exercised: {}",
        report.text
    );
}
