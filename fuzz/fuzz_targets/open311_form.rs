//! Open311's forms: a POSTed body (`Form::parse`, `check_request`, all the route judges
//! after the API key) and the query of `GET requests` (`window_of`). Any bytes are read or
//! refused with a 4xx, never a panic or a 5xx; what passes keeps the route's promises.

#![no_main]

use std::sync::LazyLock;

use gridlink::categories::{CategoryTree, Domain};
use gridlink::incidents::report::MAX_DESCRIPTION_CHARS;
use gridlink::open311::attributes::Attributes;
use gridlink::open311::requests::{Form, MAX_PAGE_SIZE, RequestsQuery, WINDOW_MS, check_request, window_of};
use gridlink::open311::services::definitions;
use libfuzzer_sys::fuzz_target;

static TREE: LazyLock<CategoryTree> = LazyLock::new(|| CategoryTree::default_tree().expect("the built-in tree"));
static ATTRIBUTES: LazyLock<Attributes> = LazyLock::new(|| Attributes::builtin().expect("the built-in attributes"));
/// 2026-12-06T00:00:00Z: the query's "now".
const NOW_MS: i64 = 1_796_515_200_000;

fuzz_target!(|data: &[u8]| {
    post(data);
    query(data);
});

fn post(body: &[u8]) {
    let form = match Form::parse(body) {
        Ok(form) => form,
        Err(e) => return assert!((400..500).contains(&e.kind().status()), "{e}"),
    };
    assert_eq!(form.hash(), form.clone().hash(), "the hash an Idempotency-Key binds is stable");
    let checked = match check_request(&form, &TREE, &ATTRIBUTES) {
        Ok(checked) => checked,
        Err(e) => return assert!((400..500).contains(&e.kind().status()), "{e}"),
    };
    assert!(checked.long.is_finite() && checked.lat.is_finite());
    assert!(checked.description.chars().count() <= MAX_DESCRIPTION_CHARS);
    assert_eq!(checked.description, checked.description.trim());
    assert!(!checked.description.is_empty() || checked.media_url.is_some(), "a request says what is wrong");
    if let Some(url) = &checked.media_url {
        let lower = url.to_ascii_lowercase();
        assert!(lower.starts_with("http://") || lower.starts_with("https://"), "{url}");
    }
    assert!(TREE.category(&checked.category.code).is_some());
    let defined = definitions(&TREE, &ATTRIBUTES, &checked.category.code).unwrap_or_default();
    for code in checked.attributes.keys() {
        assert!(defined.iter().any(|d| d.code == *code), "attribute {code} kept without a definition");
    }
    assert!(checked.severity.is_none() || checked.category.domain == Domain::Emergency);
}

fn query(text: &[u8]) {
    // actix's `web::Query` reads the query string with serde_urlencoded, as here.
    let Ok(query) = serde_urlencoded::from_bytes::<RequestsQuery>(text) else { return };
    let (window, size, offset) = match window_of(&query, &TREE, NOW_MS) {
        Ok(found) => found,
        Err(e) => return assert!((400..500).contains(&e.kind().status()), "{e}"),
    };
    assert!((1..=MAX_PAGE_SIZE).contains(&size) && offset >= 0 && offset % size == 0);
    if window.ids.is_none() {
        assert!(window.from_ms <= window.to_ms, "{window:?}");
        assert!(window.to_ms - window.from_ms <= WINDOW_MS + 999, "{window:?}");
    }
}
