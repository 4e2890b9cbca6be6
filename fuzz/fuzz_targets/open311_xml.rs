//! Open311's XML writer (`open311::xml::document`), fed the server's own answers with
//! arbitrary texts and numbers in their fields, and arbitrary JSON values: every document
//! written is well-formed XML (a strict parser reads it), and reading it back gives the
//! texts written — less only the characters XML 1.0 cannot carry at all.

#![no_main]

use arbitrary::Arbitrary;
use gridlink::open311::Open311Error;
use gridlink::open311::requests::{Created, ServiceRequest, TokenAnswer};
use gridlink::open311::xml::document;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

/// What the fuzzer varies: the fields of each kind of answer, and a free JSON text.
#[derive(Debug, Arbitrary)]
struct Input {
    texts: Vec<String>,
    numbers: (f64, f64, u16),
    json: String,
}

fuzz_target!(|input: Input| {
    let text = |i: usize| input.texts.get(i).cloned().unwrap_or_default();
    let maybe = |i: usize| input.texts.get(i).cloned().filter(|t| t.len() % 2 == 0);
    // Positions come from the database, always finite (JSON, the reference here, has no NaN).
    let finite = |x: f64| if x.is_finite() { x } else { 0.0 };
    let (lat, long, code) = (finite(input.numbers.0), finite(input.numbers.1), input.numbers.2);
    let request = ServiceRequest {
        service_request_id: text(0),
        status: "open",
        status_notes: text(1),
        service_name: text(2),
        service_code: text(3),
        description: text(4),
        agency_responsible: text(5),
        service_notice: text(6),
        requested_datetime: text(7),
        updated_datetime: text(8),
        expected_datetime: maybe(9),
        address: text(10),
        address_id: text(11),
        zipcode: "",
        lat,
        long,
        media_url: maybe(12),
    };
    check("service_requests", &request);
    check(
        "service_requests",
        &[Created { service_request_id: text(13), service_notice: text(14), account_id: maybe(15) }],
    );
    check("service_requests", &[TokenAnswer { service_request_id: text(16), token: text(17) }]);
    check("errors", &[Open311Error { code, description: text(18) }]);
    if let Ok(value) = serde_json::from_str::<Value>(&input.json) {
        check("services", &value);
    }
    check("values", &input.texts);
});

/// Writes `value` under `root`, parses the document back and compares it, node by node,
/// with the value's JSON form (the XML writer walks the same serde data model).
fn check<T: serde::Serialize + ?Sized>(root: &str, value: &T) {
    let expected = json!(value);
    let written = document(root, value);
    if !names_ok(&expected) {
        assert!(written.is_err(), "a key that is no element name was written: {expected}");
        return;
    }
    let xml = match written {
        Ok(xml) => xml,
        Err(e) => panic!("{expected} was not written: {e}"),
    };
    let doc = match roxmltree::Document::parse(&xml) {
        Ok(doc) => doc,
        Err(e) => panic!("not well-formed XML ({e}): {xml:?}"),
    };
    let top = doc.root_element();
    assert_eq!(top.tag_name().name(), root);
    same(top, &expected, &xml);
}

/// Whether every key of every object in `value` can name an element (as the writer requires).
fn names_ok(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().all(names_ok),
        Value::Object(fields) => fields.iter().all(|(k, v)| is_name(k) && names_ok(v)),
        _ => true,
    }
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The text XML 1.0 can carry of `text`: the writer drops the rest.
fn carried(text: &str) -> String {
    text.chars()
        .filter(|&c| matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && !matches!(c, '\u{FFFE}' | '\u{FFFF}')))
        .collect()
}

fn same(node: roxmltree::Node<'_, '_>, value: &Value, xml: &str) {
    let children: Vec<_> = node.children().filter(roxmltree::Node::is_element).collect();
    let text = node.text().unwrap_or_default();
    match value {
        Value::Null => assert!(children.is_empty() && text.is_empty(), "{xml:?}"),
        Value::Bool(b) => assert_eq!(text, b.to_string(), "{xml:?}"),
        Value::Number(n) => {
            let read: f64 = text.parse().unwrap_or_else(|_| panic!("{text:?} is not a number in {xml:?}"));
            let want = n.as_f64().unwrap_or_default();
            assert!(read == want, "{read} != {want} in {xml:?}");
        }
        Value::String(s) => {
            assert!(children.is_empty(), "{xml:?}");
            assert_eq!(text, carried(s), "a text reads back as written, in {xml:?}");
        }
        Value::Array(items) => {
            assert_eq!(children.len(), items.len(), "one element per item in {xml:?}");
            for (child, item) in children.iter().zip(items) {
                same(*child, item, xml);
            }
        }
        Value::Object(fields) => {
            // (serde_json's map is sorted here, so the writer's order, the type's, is not
            // compared: each field is found by its name.)
            assert_eq!(children.len(), fields.len(), "one element per field in {xml:?}");
            for (key, field) in fields {
                let child = children.iter().find(|c| c.tag_name().name() == key);
                let Some(child) = child else { panic!("no element {key} in {xml:?}") };
                same(*child, field, xml);
            }
        }
    }
}
