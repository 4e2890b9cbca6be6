//! Open311 GeoReport v2 at `/open311/v2/`, driven as a client drives it, in JSON and in
//! XML (read back as a tree): the catalogue (discovery, services, definitions), requests
//! filed with an API key and read back without anyone's personal data, every refusal in
//! the standard's error array, a key's allowance, pages and filters, a request worked
//! through the loop to closed (and others rejected and merged), keys issued and revoked
//! over the API, and a real client written by others (the `georeport` package).

use std::collections::BTreeSet;

use mobile_api_tests::{Backend, TestServer, demo_point, servers};
use serde_json::{Value, json};

use crate::support::{Reply, act, ok, read, task_op};

const JSON_TYPE: &str = "application/json; charset=utf-8";
const XML_TYPE: &str = "text/xml; charset=utf-8";
const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>";

/// GET `/open311/v2/<path>`.
async fn get(server: &TestServer, path: &str) -> Reply {
    read(server.client.get(format!("{}/open311/v2/{path}", server.base)).send().await.unwrap()).await
}

/// POSTs a form to `/open311/v2/<path>`, with an `Idempotency-Key` when given.
async fn post(server: &TestServer, path: &str, form: &[(String, String)], idempotency: Option<&str>) -> Reply {
    let body = serde_urlencoded::to_string(form).unwrap();
    let mut request = server
        .client
        .post(format!("{}/open311/v2/{path}", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(key) = idempotency {
        request = request.header("idempotency-key", key);
    }
    read(request.send().await.unwrap()).await
}

/// A form: `pairs` as given.
fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// A request of `service` in the `nth` demo grid with the demo's key, and `more` fields
/// (which come first, so that they win over the defaults: the server takes the first).
fn request_form(nth: usize, service: &str, more: &[(&str, &str)]) -> Vec<(String, String)> {
    let (lon, lat, _) = demo_point(nth);
    let mut pairs = form(more);
    pairs.extend(form(&[("api_key", "demo-key"), ("service_code", service), ("description", "路面问题")]));
    pairs.push(("lat".into(), lat.to_string()));
    pairs.push(("long".into(), lon.to_string()));
    pairs
}

/// The JSON body of a 200 answer in the JSON form.
fn json_ok(step: &str, reply: &Reply) -> Value {
    assert_eq!(reply.status, 200, "{step}: {}", String::from_utf8_lossy(&reply.bytes));
    assert_eq!(reply.content_type, JSON_TYPE, "{step}");
    reply.body.clone()
}

/// The text of a 200 answer in the XML form, with the standard's declaration.
fn xml_ok(step: &str, reply: &Reply) -> String {
    let text = String::from_utf8(reply.bytes.clone()).unwrap();
    assert_eq!(reply.status, 200, "{step}: {text}");
    assert_eq!(reply.content_type, XML_TYPE, "{step}");
    assert!(text.starts_with(DECLARATION), "{step}: {text}");
    text
}

/// The element children of `node` named `name`.
fn children<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Vec<roxmltree::Node<'a, 'i>> {
    node.children().filter(|c| c.is_element() && c.has_tag_name(name)).collect()
}

/// The text of `node`'s one child `name` (empty for an empty element).
fn text_of(node: roxmltree::Node<'_, '_>, name: &str) -> String {
    let found = children(node, name);
    assert_eq!(found.len(), 1, "<{}> has {} <{name}>", node.tag_name().name(), found.len());
    found[0].text().unwrap_or_default().to_owned()
}

/// Asserts that `reply` is the standard's error array of `status`, in JSON; its description.
fn error(step: &str, reply: &Reply, status: u16) -> String {
    assert_eq!(reply.status, status, "{step}: {}", String::from_utf8_lossy(&reply.bytes));
    assert_eq!(reply.content_type, JSON_TYPE, "{step}: not problem+json but the standard's array");
    let errors = reply.body.as_array().unwrap_or_else(|| panic!("{step}: {}", reply.body));
    assert_eq!(errors.len(), 1, "{step}: {}", reply.body);
    assert_eq!(errors[0]["code"], status, "{step}: {}", reply.body);
    let description = errors[0]["description"].as_str().unwrap_or_default().to_owned();
    assert!(!description.is_empty(), "{step}: {}", reply.body);
    description
}

/// Asserts that `reply` is the standard's error array of `status`, in XML; its description.
fn xml_error(step: &str, reply: &Reply, status: u16) -> String {
    let text = String::from_utf8(reply.bytes.clone()).unwrap();
    assert_eq!(reply.status, status, "{step}: {text}");
    assert_eq!(reply.content_type, XML_TYPE, "{step}");
    assert!(text.starts_with(DECLARATION), "{step}: {text}");
    let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{step}: {e}: {text}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "errors", "{step}: {text}");
    let errors = children(root, "error");
    assert_eq!(errors.len(), 1, "{step}: {text}");
    assert_eq!(text_of(errors[0], "code"), status.to_string(), "{step}: {text}");
    let description = text_of(errors[0], "description");
    assert!(!description.is_empty(), "{step}: {text}");
    description
}

/// The one request of a JSON answer (an array of one).
fn only(step: &str, body: &Value) -> Value {
    let list = body.as_array().unwrap_or_else(|| panic!("{step}: {body}"));
    assert_eq!(list.len(), 1, "{step}: {body}");
    list[0].clone()
}

/// Files `form` in JSON: the new request's id.
async fn file(server: &TestServer, step: &str, form: &[(String, String)]) -> String {
    let created = only(step, &json_ok(step, &post(server, "requests.json", form, None).await));
    created["service_request_id"].as_str().unwrap().to_owned()
}

/// Request `id` as Open311 reads it, in JSON.
async fn read_back(server: &TestServer, id: &str) -> Value {
    only("read back", &json_ok("read back", &get(server, &format!("requests/{id}.json")).await))
}

/// The ids of a JSON list of requests.
fn ids(body: &Value) -> Vec<String> {
    body.as_array().unwrap().iter().map(|r| r["service_request_id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn the_catalogue_answers_in_json_and_xml() {
    // The catalogue comes from the category tree and the attributes file, not the database.
    let server = TestServer::spawn().await.unwrap();

    let discovery = json_ok("discovery", &get(&server, "discovery.json").await);
    let endpoint = &discovery["endpoints"][0];
    assert_eq!(endpoint["specification"], "http://wiki.open311.org/GeoReport_v2");
    assert_eq!(endpoint["url"], format!("{}/open311/v2", server.base));
    assert_eq!(endpoint["type"], "production");
    assert_eq!(endpoint["formats"], json!(["application/json", "text/xml"]));
    assert!(discovery["changeset"].as_str().unwrap().ends_with("+08:00"), "{discovery}");
    assert!(discovery["contact"].is_string() && discovery["key_service"].is_string());
    let text = xml_ok("discovery.xml", &get(&server, "discovery.xml").await);
    let doc = roxmltree::Document::parse(&text).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "discovery");
    let endpoint = children(children(root, "endpoints")[0], "endpoint")[0];
    let formats: Vec<&str> =
        children(children(endpoint, "formats")[0], "format").iter().filter_map(|f| f.text()).collect();
    assert_eq!(formats, ["application/json", "text/xml"]);
    assert_eq!(text_of(endpoint, "specification"), "http://wiki.open311.org/GeoReport_v2");

    // Every leaf of the tree is a service; a jurisdiction changes nothing.
    let (_, _, tree) = server.get("/api/v1/categories").await.unwrap();
    let leaves: Vec<String> = tree["domains"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["classes"].as_array().unwrap().iter())
        .flat_map(|c| c["children"].as_array().unwrap().iter())
        .map(|l| l["code"].as_str().unwrap().to_owned())
        .collect();
    let services = json_ok("services", &get(&server, "services.json").await);
    let codes: Vec<String> =
        services.as_array().unwrap().iter().map(|s| s["service_code"].as_str().unwrap().to_owned()).collect();
    assert_eq!(codes, leaves);
    assert_eq!(
        json_ok("with a jurisdiction", &get(&server, "services.json?jurisdiction_id=anywhere.cn").await),
        services
    );
    let cover = services.as_array().unwrap().iter().find(|s| s["service_code"] == "C0101").unwrap();
    assert_eq!(cover["service_name"], "上水井盖破损、丢失");
    assert_eq!((cover["metadata"].clone(), cover["type"].clone()), (json!(true), json!("realtime")));
    assert_eq!(cover["group"], "部件·公用设施");
    assert!(cover["keywords"].as_str().unwrap().contains("大城管"), "{cover}");
    assert!(cover["description"].as_str().unwrap().contains("处置时限"), "{cover}");

    let text = xml_ok("services.xml", &get(&server, "services.xml").await);
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "services");
    let listed = children(doc.root_element(), "service");
    assert_eq!(listed.iter().map(|s| text_of(*s, "service_code")).collect::<Vec<_>>(), leaves);
    let cover = listed.iter().find(|s| text_of(**s, "service_code") == "C0101").unwrap();
    assert_eq!((text_of(*cover, "metadata"), text_of(*cover, "type")), ("true".to_owned(), "realtime".to_owned()));

    // Definitions: every datatype of the standard appears, lists with their keys.
    let mut datatypes = BTreeSet::new();
    for service in services.as_array().unwrap() {
        let code = service["service_code"].as_str().unwrap();
        let definition = json_ok(code, &get(&server, &format!("services/{code}.json")).await);
        assert_eq!(definition["service_code"], code);
        let attributes = definition["attributes"].as_array().unwrap();
        assert_eq!(service["metadata"], !attributes.is_empty(), "{code}");
        for (n, attribute) in attributes.iter().enumerate() {
            assert_eq!(attribute["order"], n + 1, "{code}: {attribute}");
            assert_eq!(attribute["variable"], true);
            datatypes.insert(attribute["datatype"].as_str().unwrap().to_owned());
            let lists = ["singlevaluelist", "multivaluelist"].contains(&attribute["datatype"].as_str().unwrap());
            assert_eq!(lists, !attribute["values"].as_array().unwrap().is_empty(), "{code}: {attribute}");
        }
    }
    assert_eq!(
        datatypes.into_iter().collect::<Vec<_>>(),
        ["datetime", "multivaluelist", "number", "singlevaluelist", "string", "text"]
    );
    let cover = json_ok("C0101", &get(&server, "services/C0101.json").await);
    let codes: Vec<&str> =
        cover["attributes"].as_array().unwrap().iter().map(|a| a["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["component_id", "observed_at"]);
    let dispute = json_ok("G0101", &get(&server, "services/G0101.json").await);
    assert_eq!(dispute["attributes"][0]["code"], "parties");
    assert_eq!(dispute["attributes"][0]["required"], true);

    let text = xml_ok("E0104.xml", &get(&server, "services/E0104.xml").await);
    let doc = roxmltree::Document::parse(&text).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "service_definition");
    assert_eq!(text_of(root, "service_code"), "E0104");
    let attributes = children(children(root, "attributes")[0], "attribute");
    let severity = attributes.iter().find(|a| text_of(**a, "code") == "severity").unwrap();
    assert_eq!(text_of(*severity, "datatype"), "singlevaluelist");
    assert_eq!(text_of(*severity, "required"), "false");
    let keys: Vec<String> =
        children(children(*severity, "values")[0], "value").iter().map(|v| text_of(*v, "key")).collect();
    assert_eq!(keys, ["I", "II", "III", "IV"]);

    // What does not exist: 404 in the standard's array, in the form asked for.
    error("unknown service", &get(&server, "services/X9999.json").await, 404);
    xml_error("unknown service (xml)", &get(&server, "services/X9999.xml").await, 404);
    error("no such format", &get(&server, "services.html").await, 404);
    xml_error("no such resource", &get(&server, "nothing/here.xml").await, 404);

    // The OpenAPI document describes the routes with the standard's error array.
    let (_, _, doc) = server.get("/openapi.json").await.unwrap();
    let filing = &doc["paths"]["/open311/v2/requests.{format}"]["post"]["responses"];
    for status in ["400", "403", "404", "429", "500"] {
        let content = &filing[status]["content"];
        assert!(content["application/json"].is_object() && content["text/xml"].is_object(), "{status}: {filing}");
        assert!(content.get("application/problem+json").is_none(), "{status}: {filing}");
    }
    assert!(filing["403"]["description"].as_str().unwrap().contains("invalid-api-key"), "{filing}");
}

#[tokio::test]
async fn a_request_filed_over_open311_is_a_case_and_reads_back_without_personal_data() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let (lon, lat, grid) = demo_point(0);
        let filed = request_form(
            0,
            "C0101",
            &[
                ("attribute[component_id]", "JG-0001"),
                ("attribute[observed_at]", "2026-12-06T08:30:00+08:00"),
                ("description", "井盖缺失"),
                ("first_name", "三丰"),
                ("last_name", "张"),
                ("phone", "13812345678"),
                ("email", "zhang@example.cn"),
                ("media_url", "https://img.example.cn/jg.jpg"),
                ("device_id", "dev-1"),
                ("account_id", "acct-9"),
                ("jurisdiction_id", "anywhere.cn"),
            ],
        );
        let created = only("filed", &json_ok("filed", &post(&server, "requests.json", &filed, None).await));
        let id = created["service_request_id"].as_str().unwrap().to_owned();
        assert_eq!(created["account_id"], "acct-9");
        assert!(created["service_notice"].as_str().unwrap().contains("处置时限"), "{created}");

        // The same case staff work on, from the source open311, its contact masked, the
        // client and what it said in the trace.
        let (status, case) = server.get_as(&centre, &format!("/api/v1/incidents/{id}")).await.unwrap();
        assert_eq!(status, 200, "{case}");
        assert_eq!(case["source"], "open311");
        assert_eq!(case["grid"]["code"], grid.as_str());
        assert_eq!(case["description"], "井盖缺失");
        assert_eq!(case["contact"], json!({"name": "张**", "phone": "138****5678"}));
        let said = &case["history"][0]["data"]["open311"];
        assert_eq!(said["client"], "demo", "{case}");
        assert_eq!(said["attributes"], json!({"component_id": "JG-0001", "observed_at": "2026-12-06T08:30:00+08:00"}));
        assert_eq!(said["media_url"], "https://img.example.cn/jg.jpg");
        assert!(!case.to_string().contains("zhang@example.cn"), "the e-mail is never shown: {case}");

        // Read back as the standard's request: no one's personal data.
        let request = read_back(&server, &id).await;
        assert_eq!(request["service_request_id"], id.as_str());
        assert_eq!((request["status"].as_str(), request["status_notes"].as_str()), (Some("open"), Some("待受理")));
        assert_eq!(request["service_code"], "C0101");
        assert_eq!(request["service_name"], "上水井盖破损、丢失");
        assert_eq!(request["description"], "井盖缺失");
        assert_eq!(request["address_id"], grid.as_str());
        assert_eq!(request["address"].as_str().unwrap().split(' ').count(), 3, "{request}");
        assert_eq!(request["zipcode"], "");
        assert_eq!(request["media_url"], "https://img.example.cn/jg.jpg");
        assert!(
            (request["lat"].as_f64().unwrap() - lat).abs() < 1e-9
                && (request["long"].as_f64().unwrap() - lon).abs() < 1e-9
        );
        for field in ["requested_datetime", "updated_datetime", "expected_datetime"] {
            assert!(request[field].as_str().unwrap().ends_with("+08:00"), "{field}: {request}");
        }
        assert!(!request["agency_responsible"].as_str().unwrap().is_empty(), "{request}");
        let text = request.to_string();
        for private in ["张", "13812345678", "zhang@example.cn", "acct-9", "dev-1"] {
            assert!(!text.contains(private), "{private} in {text}");
        }

        // The XML forms: filing, reading, and the token (which is the id).
        let created = xml_ok("filed (xml)", &post(&server, "requests.xml", &request_form(1, "C0103", &[]), None).await);
        let doc = roxmltree::Document::parse(&created).unwrap();
        assert_eq!(doc.root_element().tag_name().name(), "service_requests");
        let request = children(doc.root_element(), "request")[0];
        let xml_id = text_of(request, "service_request_id");
        assert!(text_of(request, "service_notice").contains("处置时限"));
        assert_eq!(text_of(request, "account_id"), "");
        let text = xml_ok("read (xml)", &get(&server, &format!("requests/{xml_id}.xml")).await);
        let doc = roxmltree::Document::parse(&text).unwrap();
        let requests = children(doc.root_element(), "request");
        assert_eq!(requests.len(), 1, "{text}");
        assert_eq!(
            (text_of(requests[0], "service_request_id"), text_of(requests[0], "status")),
            (xml_id.clone(), "open".into())
        );
        assert!(text_of(requests[0], "requested_datetime").ends_with("+08:00"));
        assert_eq!(text_of(requests[0], "zipcode"), "");
        let token = only("token", &json_ok("token", &get(&server, &format!("tokens/{id}.json")).await));
        assert_eq!(token, json!({"service_request_id": id, "token": id}));
        let text = xml_ok("token (xml)", &get(&server, &format!("tokens/{xml_id}.xml")).await);
        let doc = roxmltree::Document::parse(&text).unwrap();
        assert_eq!(text_of(children(doc.root_element(), "request")[0], "token"), xml_id);
        error("unknown token", &get(&server, "tokens/nope.json").await, 404);

        // A retry with the same Idempotency-Key is the same request; another body is refused.
        let again = request_form(2, "C0103", &[]);
        let first = only("idem 1", &json_ok("idem 1", &post(&server, "requests.json", &again, Some("idem-1")).await));
        let second = only("idem 2", &json_ok("idem 2", &post(&server, "requests.json", &again, Some("idem-1")).await));
        assert_eq!(first["service_request_id"], second["service_request_id"]);
        let other = request_form(3, "C0103", &[]);
        error("key reused", &post(&server, "requests.json", &other, Some("idem-1")).await, 400);

        // Attributes kept as their datatypes say: an emergency's grade is the reporter's
        // claim, as a resident's is; a list keeps its keys once each.
        let gas = file(
            &server,
            "gas",
            &request_form(4, "E0104", &[("attribute[severity]", "II"), ("attribute[people_affected]", "3")]),
        )
        .await;
        let case = crate::support::case(&server, &centre, &gas).await;
        assert_eq!((case["claimed_severity"].as_str(), case["severity"].as_str()), (Some("II"), None));
        assert_eq!(
            case["history"][0]["data"]["open311"]["attributes"],
            json!({"severity": "II", "people_affected": 3})
        );
        let jam = request_form(
            5,
            "T0102",
            &[
                ("attribute[lanes_blocked][]", "left"),
                ("attribute[lanes_blocked][]", "right"),
                ("attribute[vehicle_plate]", "苏N12345"),
            ],
        );
        let jam = file(&server, "jam", &jam).await;
        let case = crate::support::case(&server, &centre, &jam).await;
        assert_eq!(
            case["history"][0]["data"]["open311"]["attributes"],
            json!({"vehicle_plate": "苏N12345", "lanes_blocked": ["left", "right"]})
        );
        let dispute = request_form(6, "G0101", &[("attribute[parties]", "两户邻居，因楼道堆物争执")]);
        file(&server, "dispute", &dispute).await;
    }
}

#[tokio::test]
async fn every_refusal_is_the_standards_error_array() {
    for server in servers().await {
        let without =
            |drop: &str| request_form(0, "C0103", &[]).into_iter().filter(|(k, _)| k != drop).collect::<Vec<_>>();
        // The key: missing, unknown.
        let said = error("no key", &post(&server, "requests.json", &without("api_key"), None).await, 403);
        assert!(said.contains("api_key"), "{said}");
        error(
            "wrong key",
            &post(&server, "requests.json", &request_form(0, "C0103", &[("api_key", "guessed")]), None).await,
            403,
        );
        xml_error("no key (xml)", &post(&server, "requests.xml", &without("api_key"), None).await, 403);

        // The service, the place, the attributes, the text.
        error("no service", &post(&server, "requests.json", &without("service_code"), None).await, 400);
        error("unknown service", &post(&server, "requests.json", &request_form(0, "X9999", &[]), None).await, 400);
        let nowhere: Vec<(String, String)> = without("lat").into_iter().filter(|(k, _)| k != "long").collect();
        error("no position", &post(&server, "requests.json", &nowhere, None).await, 400);
        let mut address = nowhere.clone();
        address.push(("address_string".into(), "幸福路 1 号".into()));
        let said = error("an address alone", &post(&server, "requests.json", &address, None).await, 400);
        assert!(said.contains("address_string without lat/long is not supported here"), "{said}");
        let said = xml_error("an address alone (xml)", &post(&server, "requests.xml", &address, None).await, 400);
        assert!(said.contains("cannot geocode"), "{said}");
        error("lat alone", &post(&server, "requests.json", &without("long"), None).await, 400);
        let far = request_form(0, "C0103", &[("lat", "0.5"), ("long", "0.5")]);
        error("outside the area", &post(&server, "requests.json", &far, None).await, 400);
        let words = request_form(0, "C0103", &[("lat", "north")]);
        error("a word for a latitude", &post(&server, "requests.json", &words, None).await, 400);
        for (service, attribute, value) in [
            ("E0104", "attribute[severity]", "V"),
            ("E0104", "attribute[people_affected]", "lots"),
            ("E0104", "attribute[people_affected]", "1.5"),
            ("C0101", "attribute[colour]", "red"),
            ("C0301", "attribute[observed_at]", "yesterday"),
            ("T0102", "attribute[lanes_blocked][]", "roof"),
        ] {
            let said = error(
                value,
                &post(&server, "requests.json", &request_form(0, service, &[(attribute, value)]), None).await,
                400,
            );
            assert!(said.contains("attribute"), "{said}");
        }
        let said = error(
            "a required attribute",
            &post(&server, "requests.json", &request_form(0, "G0101", &[]), None).await,
            400,
        );
        assert!(said.contains("attribute[parties] is required"), "{said}");
        xml_error(
            "a bad attribute (xml)",
            &post(&server, "requests.xml", &request_form(0, "E0104", &[("attribute[severity]", "V")]), None).await,
            400,
        );
        error(
            "nothing said",
            &post(&server, "requests.json", &request_form(0, "C0103", &[("description", " ")]), None).await,
            400,
        );
        error(
            "not a URL",
            &post(&server, "requests.json", &request_form(0, "C0103", &[("media_url", "file:///etc/passwd")]), None)
                .await,
            400,
        );
        error(
            "a bad phone",
            &post(&server, "requests.json", &request_form(0, "C0103", &[("phone", "call me")]), None).await,
            400,
        );
        error(
            "a bad e-mail",
            &post(&server, "requests.json", &request_form(0, "C0103", &[("email", "nobody")]), None).await,
            400,
        );
        let multipart = server
            .client
            .post(format!("{}/open311/v2/requests.json", server.base))
            .header("content-type", "multipart/form-data; boundary=x")
            .body("--x--")
            .send()
            .await
            .unwrap();
        error("multipart", &read(multipart).await, 400);

        // Reads: dates, statuses, pages; what does not exist.
        for query in [
            "start_date=yesterday",
            "end_date=2026-12-06T08:00:00",
            "start_date=2026-01-01&end_date=2026-06-01",
            "start_date=2026-06-01T00:00:00Z&end_date=2026-05-01T00:00:00Z",
            "status=pending",
            "page=0",
            "page_size=5000",
            "service_code=X9999",
        ] {
            error(query, &get(&server, &format!("requests.json?{query}")).await, 400);
        }
        xml_error("a bad date (xml)", &get(&server, "requests.xml?start_date=yesterday").await, 400);
        let unknown = "00000000-0000-4000-8000-000000000000";
        error("unknown request", &get(&server, &format!("requests/{unknown}.json")).await, 404);
        xml_error("unknown request (xml)", &get(&server, &format!("requests/{unknown}.xml")).await, 404);
    }
}

#[tokio::test]
async fn each_key_has_its_own_allowance() {
    let limited = |s: &mut gridlink::settings::Settings| {
        s.limits.open311_burst = 2;
        s.limits.open311_per_hour = 1;
    };
    // The allowance is the node's own, in memory: one backend shows it.
    let server = TestServer::spawn_with(Backend::Sqlite, limited).await.unwrap().unwrap();
    for nth in 0..2 {
        file(&server, "within the burst", &request_form(nth, "C0103", &[])).await;
    }
    let refused = post(&server, "requests.json", &request_form(2, "C0103", &[]), None).await;
    error("past the burst", &refused, 429);
    assert!(refused.retry_after.is_some_and(|s| s >= 1), "Retry-After: {:?}", refused.retry_after);
    xml_error("past the burst (xml)", &post(&server, "requests.xml", &request_form(2, "C0103", &[]), None).await, 429);
    // Another client's key has its own bucket.
    let admin = server.login("admin").await.unwrap();
    let (status, issued) = server.post_as(&admin, "/api/v1/keys", &json!({"name": "另一个应用"})).await.unwrap();
    assert_eq!(status, 201, "{issued}");
    let key = issued["key"].as_str().unwrap();
    file(&server, "another key", &request_form(3, "C0103", &[("api_key", key)])).await;
    // Reads need no key and count against none.
    json_ok("reads", &get(&server, "requests.json").await);
}

#[tokio::test]
async fn pages_and_filters_of_requests() {
    for server in servers().await {
        // Five requests over Open311 and one resident's report: six cases, all open.
        let mut filed = Vec::new();
        for (nth, service) in ["C0103", "C0103", "C0103", "C0201", "C0201"].into_iter().enumerate() {
            filed.push(file(&server, service, &request_form(nth, service, &[])).await);
        }
        let (resident, _) = crate::support::report(&server, 5).await;
        filed.push(resident.clone());

        let all = json_ok("all", &get(&server, "requests.json").await);
        assert_eq!(ids(&all).into_iter().collect::<BTreeSet<_>>(), filed.iter().cloned().collect::<BTreeSet<_>>());
        let times: Vec<&str> =
            all.as_array().unwrap().iter().map(|r| r["requested_datetime"].as_str().unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
        let resident_request =
            all.as_array().unwrap().iter().find(|r| r["service_request_id"] == resident.as_str()).unwrap();
        assert_eq!(resident_request["media_url"], Value::Null, "a resident's photos are not public");

        // Pages: 4, 2, then none; together every request once.
        let mut paged = Vec::new();
        for (page, size) in [(1, 4), (2, 2), (3, 0)] {
            let body = json_ok("page", &get(&server, &format!("requests.json?page={page}&page_size=4")).await);
            assert_eq!(body.as_array().unwrap().len(), size, "page {page}: {body}");
            paged.extend(ids(&body));
        }
        assert_eq!(paged, ids(&all));
        let text = xml_ok("page (xml)", &get(&server, "requests.xml?page=2&page_size=4").await);
        let doc = roxmltree::Document::parse(&text).unwrap();
        let requests = children(doc.root_element(), "request");
        assert_eq!(requests.iter().map(|r| text_of(*r, "service_request_id")).collect::<Vec<_>>(), ids(&all)[4..]);
        let text = xml_ok("no page (xml)", &get(&server, "requests.xml?page=3&page_size=4").await);
        let doc = roxmltree::Document::parse(&text).unwrap();
        assert_eq!(
            (doc.root_element().tag_name().name(), children(doc.root_element(), "request").len()),
            ("service_requests", 0)
        );

        // Filters.
        let count = |body: Value| body.as_array().unwrap().len();
        assert_eq!(count(json_ok("C0201", &get(&server, "requests.json?service_code=C0201").await)), 2);
        assert_eq!(count(json_ok("two services", &get(&server, "requests.json?service_code=C0103,C0201").await)), 5);
        assert_eq!(count(json_ok("open", &get(&server, "requests.json?status=open").await)), 6);
        assert_eq!(count(json_ok("closed", &get(&server, "requests.json?status=closed").await)), 0);
        assert_eq!(count(json_ok("both", &get(&server, "requests.json?status=open,closed").await)), 6);
        // Dates: the span of what was filed (the end is taken to its whole second), a
        // window in the future, one long past.
        let (oldest, newest) = (times[times.len() - 1], times[0]);
        let span = serde_urlencoded::to_string([("start_date", oldest), ("end_date", newest)]).unwrap();
        assert_eq!(count(json_ok("span", &get(&server, &format!("requests.json?{span}")).await)), 6);
        assert_eq!(count(json_ok("future", &get(&server, "requests.json?start_date=2999-01-01").await)), 0);
        assert_eq!(count(json_ok("past", &get(&server, "requests.json?end_date=2001-01-01T00:00:00Z").await)), 0);
        // Ids: every other filter is ignored.
        let two =
            format!("requests.json?service_request_id={},{}&status=closed&service_code=C0201", filed[0], filed[5]);
        let body = json_ok("ids", &get(&server, &two).await);
        assert_eq!(
            ids(&body).into_iter().collect::<BTreeSet<_>>(),
            BTreeSet::from([filed[0].clone(), filed[5].clone()])
        );
    }
}

/// The names of the units of the `nth` demo grid from the township down, as `locate` gives them.
async fn place_names(server: &TestServer, nth: usize) -> Vec<String> {
    let (lon, lat, _) = demo_point(nth);
    let (status, _, located) = server.get(&format!("/api/v1/locate?lon={lon}&lat={lat}")).await.unwrap();
    assert_eq!(status, 200, "{located}");
    located["chain"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["level"].as_u64().unwrap() >= 3)
        .map(|l| l["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_request_walks_the_loop_and_reads_back_closed_with_its_notes() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let (_, _, grid) = demo_point(1);
        let worker = server.login(&format!("worker-{grid}")).await.unwrap();
        let names = place_names(&server, 1).await;
        let id = file(&server, "filed", &request_form(1, "C0103", &[("description", "雨水箅子破损")])).await;
        let notes =
            |r: &Value| (r["status"].as_str().unwrap().to_owned(), r["status_notes"].as_str().unwrap().to_owned());
        let request = read_back(&server, &id).await;
        assert_eq!(notes(&request), ("open".into(), "待受理".into()));
        assert_eq!(request["address"], names.join(" "));

        ok("accept", act(&server, &centre, &id, json!({"action": "accept"})).await);
        assert_eq!(notes(&read_back(&server, &id).await), ("open".into(), "已立案，待派遣".into()));
        let case =
            ok("dispatch", act(&server, &centre, &id, json!({"action": "dispatch", "to": {"grid": grid}})).await);
        let request = read_back(&server, &id).await;
        assert_eq!(notes(&request), ("open".into(), "处置中".into()));
        assert_eq!(request["agency_responsible"], names[1..].join(" "), "the grid handles it now");
        // The step's deadline, to the second, in the county's time.
        let expected = request["expected_datetime"].as_str().unwrap();
        assert!(expected.ends_with("+08:00"), "{request}");
        let due = crate::support::ms(&case["deadlines"]["current"]);
        assert_eq!(gridlink::clock::parse_rfc3339(expected).unwrap(), due - due.rem_euclid(1000), "{request}");
        let task = case["tasks"].as_array().unwrap().last().unwrap()["id"].as_str().unwrap().to_owned();
        ok("accept_task", task_op(&server, &worker, &task, json!({"kind": "accept_task"})).await);
        ok(
            "complete_task",
            task_op(&server, &worker, &task, json!({"kind": "complete_task", "result": "已更换", "photos": []})).await,
        );
        assert_eq!(notes(&read_back(&server, &id).await), ("open".into(), "已处置，待核查".into()));
        ok("verify", act(&server, &centre, &id, json!({"action": "verify", "passed": true})).await);
        assert_eq!(notes(&read_back(&server, &id).await), ("open".into(), "核查通过，待结案".into()));
        let case = ok("close", act(&server, &centre, &id, json!({"action": "close"})).await);
        assert_eq!(case["status"], "closed");

        let request = read_back(&server, &id).await;
        assert_eq!(notes(&request), ("closed".into(), "已结案".into()));
        assert_eq!(request["expected_datetime"], Value::Null, "nothing runs on a closed case");
        assert_eq!(request["agency_responsible"], names[1..].join(" "), "who handled it");
        let closed = json_ok("closed", &get(&server, "requests.json?status=closed").await);
        assert_eq!(ids(&closed), std::slice::from_ref(&id));
        let text = xml_ok("closed (xml)", &get(&server, &format!("requests/{id}.xml")).await);
        let doc = roxmltree::Document::parse(&text).unwrap();
        let request = children(doc.root_element(), "request")[0];
        assert_eq!((text_of(request, "status"), text_of(request, "status_notes")), ("closed".into(), "已结案".into()));
        assert_eq!(text_of(request, "expected_datetime"), "");

        // Rejected, with the reason; merged, with the case it went into.
        let rejected = file(&server, "to reject", &request_form(2, "C0103", &[])).await;
        ok("reject", act(&server, &centre, &rejected, json!({"action": "reject", "reason": "不属于受理范围"})).await);
        assert_eq!(notes(&read_back(&server, &rejected).await), ("closed".into(), "不予受理：不属于受理范围".into()));
        let survivor = file(&server, "survivor", &request_form(3, "C0103", &[])).await;
        let duplicate = file(&server, "duplicate", &request_form(3, "C0103", &[])).await;
        let merged = json!({"action": "merge", "into": survivor, "reason": "同一处"});
        ok("merge", act(&server, &centre, &duplicate, merged).await);
        let code = crate::support::case(&server, &centre, &survivor).await["code"].as_str().unwrap().to_owned();
        assert_eq!(notes(&read_back(&server, &duplicate).await), ("closed".into(), format!("已合并：并入工单 {code}")));
        assert_eq!(notes(&read_back(&server, &survivor).await).0, "open");
    }
}

#[tokio::test]
async fn administrators_issue_and_revoke_keys() {
    let server = TestServer::spawn().await.unwrap();
    let admin = server.login("admin").await.unwrap();
    let (status, issued) =
        server.post_as(&admin, "/api/v1/keys", &json!({"name": "市民通", "contact": "ops@example.cn"})).await.unwrap();
    assert_eq!(status, 201, "{issued}");
    let (id, key) = (issued["id"].as_str().unwrap().to_owned(), issued["key"].as_str().unwrap().to_owned());
    assert!(key.starts_with("gl311_") && issued["revoked_at"].is_null(), "{issued}");

    let (status, listed) = server.get_as(&admin, "/api/v1/keys").await.unwrap();
    assert_eq!(status, 200, "{listed}");
    let names: Vec<&str> = listed["keys"].as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["demo", "市民通"]);
    assert!(!listed.to_string().contains(&key) && !listed.to_string().contains("\"key\""), "never a key: {listed}");

    // The new key files; the trace names its client.
    let filed = file(&server, "new key", &request_form(0, "C0103", &[("api_key", &key)])).await;
    let centre = server.login("centre").await.unwrap();
    let case = crate::support::case(&server, &centre, &filed).await;
    assert_eq!(case["history"][0]["data"]["open311"]["client"], "市民通");

    // Only administrators manage keys.
    let (status, refused) = server.get_as(&centre, "/api/v1/keys").await.unwrap();
    assert_eq!((status, refused["type"].as_str()), (403, Some("forbidden")), "{refused}");
    let (status, _, refused) = server.get("/api/v1/keys").await.unwrap();
    assert_eq!((status, refused["type"].as_str()), (401, Some("unauthenticated")));
    let (status, refused) = server.post_as(&admin, "/api/v1/keys", &json!({"name": " "})).await.unwrap();
    assert_eq!((status, refused["type"].as_str()), (400, Some("bad-request")), "{refused}");

    // Revoked: listed as such, and its requests refused with 403.
    let revoke = |id: String| {
        let request = server.client.delete(format!("{}/api/v1/keys/{id}", server.base)).bearer_auth(&admin);
        async move { read(request.send().await.unwrap()).await }
    };
    let revoked = revoke(id.clone()).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert!(revoked.body["revoked_at"].is_string(), "{}", revoked.body);
    assert_eq!(revoke("no-such-key".into()).await.status, 404);
    let said = error(
        "revoked key",
        &post(&server, "requests.json", &request_form(0, "C0103", &[("api_key", &key)]), None).await,
        403,
    );
    assert!(said.contains("revoked"), "{said}");
    let (_, listed) = server.get_as(&admin, "/api/v1/keys").await.unwrap();
    assert!(listed["keys"][1]["revoked_at"].is_string(), "{listed}");
}

#[tokio::test]
async fn a_real_open311_client_reads_and_files() {
    let script = mobile_api_tests::manifest_dir().join("tests/open311_client.py");
    let importable = std::process::Command::new("python3").args(["-c", "import georeport"]).status();
    assert!(
        importable.is_ok_and(|s| s.success()),
        "the Open311 client test needs Python's georeport package: pip install georeport==0.3.1"
    );
    let server = TestServer::spawn().await.unwrap();
    let (lon, lat, _) = demo_point(7);
    let args = [script.display().to_string(), server.base.clone(), "demo-key".into(), lat.to_string(), lon.to_string()];
    // Off the test's runtime thread, which also serves the server.
    let out = tokio::task::spawn_blocking(move || std::process::Command::new("python3").args(args).output())
        .await
        .unwrap()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the georeport client failed ({}):\n{stdout}\n{stderr}", out.status);
    assert!(stdout.contains("georeport client: OK"), "{stdout}\n{stderr}");
    // Its requests are cases like any other, filed under the demo's key.
    let found = json_ok("filed by georeport", &get(&server, "requests.json?service_code=E0104").await);
    assert_eq!(found.as_array().unwrap().len(), 2, "one per format: {found}");
}
