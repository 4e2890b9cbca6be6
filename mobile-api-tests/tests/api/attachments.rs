//! Photos over HTTP against a real server: uploaded by anyone (rate-limited per address),
//! stored once under the SHA-256 of their bytes, refused when they are not the photo
//! their type says, and served only to those who may see a case that cites them.
//! Uploading and reading back run on SQLite and on PostgreSQL; the rate limit, which
//! lives in the server's memory, on SQLite only.

use mobile_api_tests::{TestServer, demo_point, servers};
use serde_json::{Value, json};

use crate::support::{Reply, problem, read};

/// A small JPEG as far as its signature goes (`FF D8 FF E0`), and its SHA-256
/// (computed outside the project, with `sha256sum`).
const JPEG: &[u8] = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01gridlink test photo: a missing manhole cover";
const JPEG_SHA256: &str = "ed4abfdb25266dd78078104eb8f6283f5d219de7a5e7f187b9be82babe38f50c";
/// A small PNG as far as its signature goes, and its SHA-256.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDRgridlink test photo: a broken street lamp";
const PNG_SHA256: &str = "a344b05c05b509a704582e2342467687db4e6e21b54fb0add7cd209fa3fd2b3b";

/// POSTs `bytes` to `/api/v1/attachments` with `content_type` (none when `None`).
async fn upload(server: &TestServer, content_type: Option<&str>, bytes: Vec<u8>) -> Reply {
    let mut request = server.client.post(format!("{}/api/v1/attachments", server.base)).body(bytes);
    if let Some(content_type) = content_type {
        request = request.header(reqwest::header::CONTENT_TYPE, content_type);
    }
    read(request.send().await.unwrap()).await
}

/// GETs `/api/v1/attachments/{id}`, with a bearer token when given.
async fn fetch(server: &TestServer, token: Option<&str>, id: &str) -> Reply {
    let mut request = server.client.get(format!("{}/api/v1/attachments/{id}", server.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    read(request.send().await.unwrap()).await
}

/// Uploads a file that must be taken; its id.
async fn stored(server: &TestServer, content_type: &str, bytes: &[u8]) -> String {
    let reply = upload(server, Some(content_type), bytes.to_vec()).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body["id"].as_str().unwrap().to_owned()
}

/// Files a report in the grid of `demo_point(nth)` citing `photos`; the status and body.
async fn report(server: &TestServer, nth: usize, photos: &[&str]) -> (u16, Value) {
    let (lon, lat, _) = demo_point(nth);
    let body = json!({
        "category": "C0101",
        "location": {"lon": lon, "lat": lat, "crs": "wgs84"},
        "description": "井盖缺失",
        "photos": photos,
    });
    let (status, _, opened) = server.post("/api/v1/reports", &body).await.unwrap();
    (status, opened)
}

#[tokio::test]
async fn a_photo_is_stored_once_under_the_sha256_of_its_bytes() {
    for server in servers().await {
        let jpeg = format!("sha256:{JPEG_SHA256}");
        assert_eq!(stored(&server, "image/jpeg", JPEG).await, jpeg);
        assert_eq!(stored(&server, "image/jpeg", JPEG).await, jpeg, "the same bytes again");
        let png = format!("sha256:{PNG_SHA256}");
        assert_eq!(stored(&server, "image/png", PNG).await, png);
        // Other bytes, another id; the type's parameters and case do not matter.
        let mut other = JPEG.to_vec();
        other.push(0);
        let other_id = stored(&server, "Image/JPEG; q=0.9", &other).await;
        assert!(other_id.starts_with("sha256:") && other_id.len() == 71, "{other_id}");
        assert!(other_id != jpeg && other_id != png);

        // The files are there: a report may cite them.
        let (status, opened) = report(&server, 0, &[&jpeg, &png, &other_id]).await;
        assert_eq!(status, 201, "{opened}");
    }
}

#[tokio::test]
async fn files_that_are_not_photos_are_refused_and_not_stored() {
    for server in servers().await {
        let html = b"<html><body>not a photo</body></html>".to_vec();
        problem("text/html", &upload(&server, Some("text/html"), html).await, 415, "unsupported-media-type");
        problem("no type", &upload(&server, None, JPEG.to_vec()).await, 415, "unsupported-media-type");
        problem(
            "PNG bytes said to be JPEG",
            &upload(&server, Some("image/jpeg"), PNG.to_vec()).await,
            422,
            "invalid-file",
        );
        problem(
            "JPEG bytes said to be PNG",
            &upload(&server, Some("image/png"), JPEG.to_vec()).await,
            422,
            "invalid-file",
        );
        problem("an empty body", &upload(&server, Some("image/jpeg"), Vec::new()).await, 422, "invalid-file");
        let mut huge = JPEG.to_vec();
        huge.resize(10 * 1024 * 1024 + 1, 0x55);
        problem("over 10 MiB", &upload(&server, Some("image/jpeg"), huge).await, 413, "payload-too-large");

        // None of them was stored: a report citing them is refused.
        for (step, id) in [("PNG said to be JPEG", PNG_SHA256), ("JPEG said to be PNG", JPEG_SHA256)] {
            let (status, body) = report(&server, 0, &[&format!("sha256:{id}")]).await;
            assert_eq!((status, body["type"].as_str()), (422, Some("unknown-attachment")), "{step}: {body}");
        }
        let centre = server.login("centre").await.unwrap();
        let (_, list) = server.get_as(&centre, "/api/v1/incidents").await.unwrap();
        assert_eq!(list["total"], 0, "{list}");

        // At exactly 10 MiB a photo is taken.
        let mut largest = JPEG.to_vec();
        largest.resize(10 * 1024 * 1024, 0x55);
        let reply = upload(&server, Some("image/jpeg"), largest).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
}

#[tokio::test]
async fn a_photo_is_served_only_to_those_who_may_see_a_case_citing_it() {
    for server in servers().await {
        let id = stored(&server, "image/jpeg", JPEG).await;
        let png = stored(&server, "image/png", PNG).await;
        let centre = server.login("centre").await.unwrap();
        problem("no token", &fetch(&server, None, &id).await, 401, "unauthenticated");
        problem("cited by no case", &fetch(&server, Some(&centre), &id).await, 404, "not-found");

        let (status, opened) = report(&server, 0, &[&id, &png]).await;
        assert_eq!(status, 201, "{opened}");
        let grid = demo_point(0).2;
        let (_, case) =
            server.get_as(&centre, &format!("/api/v1/incidents/{}", opened["id"].as_str().unwrap())).await.unwrap();
        assert_eq!(case["photos"], json!([id, png]), "{case}");

        problem("no token, cited", &fetch(&server, None, &id).await, 401, "unauthenticated");
        let worker = server.login(&format!("worker-{grid}")).await.unwrap();
        for (who, token) in [("centre", &centre), ("the grid's worker", &worker)] {
            for (file, bytes, media_type) in [(&id, JPEG, "image/jpeg"), (&png, PNG, "image/png")] {
                let reply = fetch(&server, Some(token), file).await;
                assert_eq!(reply.status, 200, "{who}: {}", reply.body);
                assert_eq!(reply.content_type, media_type, "{who}");
                assert_eq!(reply.bytes, bytes, "{who} got other bytes");
            }
        }

        // Those who may not see the case do not learn the file exists.
        let township = &grid[..9];
        let layer = mobile_api_tests::demo_layer().unwrap();
        let other =
            layer.at_level(geodata::Level::Township).map(|u| u.code.to_string()).find(|c| c != township).unwrap();
        let stranger = server.login(&format!("township-{other}")).await.unwrap();
        problem("another township", &fetch(&server, Some(&stranger), &id).await, 404, "not-found");
        let other_grid = (1..50).map(|n| demo_point(n).2).find(|g| *g != grid).unwrap();
        let other_worker = server.login(&format!("worker-{other_grid}")).await.unwrap();
        problem("another grid's worker", &fetch(&server, Some(&other_worker), &id).await, 404, "not-found");
        problem("a malformed id", &fetch(&server, Some(&centre), "sha256:xyz").await, 404, "not-found");
        let never = format!("sha256:{}", "0".repeat(64));
        problem("never uploaded", &fetch(&server, Some(&centre), &never).await, 404, "not-found");
    }
}

#[tokio::test]
async fn uploads_past_the_burst_from_one_address_are_rate_limited() {
    let server = TestServer::spawn().await.unwrap();
    let start = std::time::Instant::now();
    let mut taken = 0u32;
    let mut limited = None;
    for n in 0u32..120 {
        let mut bytes = JPEG.to_vec();
        bytes.extend_from_slice(&n.to_be_bytes());
        let reply = upload(&server, Some("image/jpeg"), bytes.clone()).await;
        if reply.status == 429 {
            limited = Some((reply, bytes));
            break;
        }
        assert_eq!(reply.status, 201, "upload {n}: {}", reply.body);
        taken += 1;
    }
    let (reply, refused) = limited.expect("120 uploads in a burst were all taken");
    // A burst of 60, then about one a second.
    let refill = u32::try_from(start.elapsed().as_secs()).unwrap() + 1;
    assert!((60..=60 + refill).contains(&taken), "{taken} uploads were taken before the limit");
    problem("past the burst", &reply, 429, "rate-limited");
    let wait: u64 = reply.retry_after.expect("Retry-After in seconds");
    assert!((1..=60).contains(&wait), "Retry-After: {wait}");

    // The refused file was not stored: a report citing it is refused. (Its id by the
    // server's own formula, which the first test checks against `sha256sum`.)
    let id = gridlink::attachments::id_of(&refused);
    let (status, body) = report(&server, 0, &[&id]).await;
    assert_eq!((status, body["type"].as_str()), (422, Some("unknown-attachment")), "{body}");
}
