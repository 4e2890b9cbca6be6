//! `GET /openapi.json`: the API's description, generated from the handlers' own
//! annotations so that it cannot drift from the code, and [`ROUTES`]: the error kinds
//! each route can answer, which the document lists and the server checks its answers by.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, get};
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::error_kind::ErrorKind::{self, *};
use crate::{attachments, auth, categories, geo, health, inbox, incidents, push, routing, sensors, sync};

/// A route and the error kinds it can answer, beside `internal`, which any can.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// `get`, `post`, `put` or `delete`.
    pub method: &'static str,
    /// The path as routed, e.g. `/api/v1/incidents/{id}`.
    pub path: &'static str,
    /// Its kinds, in groups (those of a session, of a JSON body, of the write path …).
    pub errors: &'static [&'static [ErrorKind]],
}

/// What a route needing a session answers without one.
const SESSION: &[ErrorKind] = auth::routes::SESSION_ERRORS;
/// What a route reading a JSON body answers for a bad one.
const JSON: &[ErrorKind] = crate::body::JSON_ERRORS;
/// What a command through the write path answers: the actor's view and the table …
const ACT: &[ErrorKind] = incidents::act::ACT_ERRORS;
/// … and the workflow's refusals.
const REFUSALS: &[ErrorKind] = incidents::workflow::Refusal::KINDS;

/// Every route of the API and the kinds it can answer (docs/contract.md#errors). The
/// server counts any answer outside its route's list
/// (`gridlink_undeclared_error_kinds_total`), and the tests fail on one.
pub const ROUTES: &[Route] = &[
    Route { method: "get", path: "/healthz", errors: &[] },
    Route {
        method: "get",
        path: "/api/v1/locate",
        errors: &[&[BadRequest, InvalidCoordinates, InvalidCrs, OutsideServiceArea]],
    },
    Route { method: "get", path: "/api/v1/grids", errors: &[&[BadRequest, InvalidCoordinates]] },
    Route { method: "get", path: "/api/v1/map", errors: &[&[BadRequest, NotFound]] },
    Route { method: "get", path: "/api/v1/map/tiles/{z}/{x}/{y}", errors: &[&[BadRequest, NotFound]] },
    Route { method: "get", path: "/api/v1/map/cases", errors: &[SESSION, &[BadRequest, Forbidden]] },
    Route { method: "get", path: "/api/v1/stats", errors: &[SESSION, &[BadRequest, Forbidden]] },
    Route { method: "get", path: "/api/v1/stats/heat", errors: &[SESSION, &[BadRequest, Forbidden]] },
    Route { method: "get", path: "/api/v1/categories", errors: &[] },
    Route { method: "post", path: "/api/v1/auth/login", errors: &[JSON, &[InvalidCredentials, RateLimited, Busy]] },
    Route { method: "post", path: "/api/v1/auth/refresh", errors: &[JSON, &[InvalidCredentials]] },
    Route { method: "post", path: "/api/v1/auth/logout", errors: &[SESSION] },
    Route { method: "get", path: "/api/v1/me", errors: &[SESSION] },
    Route { method: "get", path: "/api/v1/users", errors: &[SESSION, auth::admin::ADMIN_ERRORS, &[BadRequest]] },
    Route {
        method: "post",
        path: "/api/v1/users",
        errors: &[SESSION, JSON, auth::admin::ADMIN_ERRORS, &[InvalidAccount, WeakPassword, LoginTaken]],
    },
    Route { method: "get", path: "/api/v1/users/{id}", errors: &[SESSION, auth::admin::ADMIN_ERRORS, &[NotFound]] },
    Route {
        method: "post",
        path: "/api/v1/users/{id}/disable",
        errors: &[SESSION, auth::admin::ADMIN_ERRORS, &[NotFound, OwnAccount]],
    },
    Route {
        method: "post",
        path: "/api/v1/users/{id}/enable",
        errors: &[SESSION, auth::admin::ADMIN_ERRORS, &[NotFound]],
    },
    Route {
        method: "post",
        path: "/api/v1/users/{id}/password",
        errors: &[SESSION, JSON, auth::admin::ADMIN_ERRORS, &[NotFound, WeakPassword]],
    },
    Route {
        method: "delete",
        path: "/api/v1/users/{id}/devices/{device_id}",
        errors: &[SESSION, auth::admin::ADMIN_ERRORS, &[NotFound]],
    },
    Route {
        method: "post",
        path: "/api/v1/attachments",
        errors: &[&[BadRequest, PayloadTooLarge, UnsupportedMediaType, InvalidFile, RateLimited, QuotaExceeded]],
    },
    Route { method: "get", path: "/api/v1/attachments/{id}", errors: &[SESSION, &[NotFound]] },
    Route {
        method: "post",
        path: "/api/v1/reports",
        errors: &[
            JSON,
            &[InvalidCoordinates, InvalidCrs, OutsideServiceArea, UnknownCategory, UnknownAttachment, TooManyPhotos],
            &[InvalidReport, InvalidContact, IdempotencyKeyReused, RateLimited],
        ],
    },
    Route { method: "get", path: "/api/v1/reports/{id}", errors: &[&[BadRequest, NotFound]] },
    Route { method: "post", path: "/api/v1/reports/{id}/rating", errors: &[JSON, ACT, REFUSALS] },
    Route {
        method: "put",
        path: "/api/v1/reports/{id}/push",
        errors: &[JSON, &[NotFound, InvalidPushEndpoint, InvalidPushKeys, RateLimited]],
    },
    Route { method: "delete", path: "/api/v1/reports/{id}/push", errors: &[JSON, &[NotFound]] },
    Route { method: "get", path: "/api/v1/incidents", errors: &[SESSION, &[BadRequest, Forbidden]] },
    Route { method: "get", path: "/api/v1/incidents/{id}", errors: &[SESSION, &[NotFound]] },
    Route { method: "get", path: "/api/v1/incidents/{id}/trace", errors: &[SESSION, &[NotFound]] },
    Route { method: "post", path: "/api/v1/incidents/{id}/contact", errors: &[SESSION, JSON, &[Forbidden, NotFound]] },
    Route {
        method: "post",
        path: "/api/v1/incidents/{id}/actions",
        errors: &[
            SESSION,
            JSON,
            ACT,
            REFUSALS,
            &[UnknownTarget, UnknownCase, UnknownAttachment, TooManyPhotos, NotSupportedYet],
        ],
    },
    Route {
        method: "post",
        path: "/api/v1/tasks/{id}/actions",
        errors: &[SESSION, JSON, ACT, REFUSALS, &[UnknownAttachment, TooManyPhotos, NotATaskOperation]],
    },
    Route { method: "get", path: "/api/v1/inbox", errors: &[SESSION, &[BadRequest, Forbidden]] },
    Route { method: "get", path: "/api/v1/incidents/{id}/suggestion", errors: &[SESSION, &[NotFound, NoSuggestion]] },
    Route { method: "put", path: "/api/v1/incidents/{id}/presence", errors: &[SESSION, &[NotFound]] },
    Route { method: "delete", path: "/api/v1/incidents/{id}/presence", errors: &[SESSION, &[NotFound]] },
    Route { method: "get", path: "/api/v1/workers/positions", errors: &[SESSION, &[Forbidden]] },
    Route { method: "get", path: "/api/v1/grids/{code}/roster", errors: &[SESSION, &[NotFound]] },
    Route {
        method: "put",
        path: "/api/v1/grids/{code}/roster",
        errors: &[SESSION, JSON, &[Forbidden, NotFound, InvalidShift, NotAGridWorker]],
    },
    Route { method: "get", path: "/api/v1/sync", errors: &[SESSION, &[BadRequest, RateLimited]] },
    Route { method: "get", path: "/api/v1/tasks", errors: &[SESSION] },
    Route { method: "get", path: "/api/v1/push/key", errors: &[] },
    Route {
        method: "put",
        path: "/api/v1/push/subscription",
        errors: &[SESSION, JSON, &[InvalidPushEndpoint, InvalidPushKeys, InvalidDeviceId, DeviceMismatch]],
    },
    Route { method: "get", path: "/api/v1/push/subscription", errors: &[SESSION, &[BadRequest, NotFound]] },
    Route { method: "delete", path: "/api/v1/push/subscription", errors: &[SESSION, &[BadRequest]] },
    Route { method: "post", path: "/api/v1/push/test", errors: &[SESSION, JSON, &[Forbidden]] },
    Route { method: "get", path: "/api/v1/keys", errors: &[SESSION, &[Forbidden]] },
    Route { method: "post", path: "/api/v1/keys", errors: &[SESSION, JSON, &[Forbidden]] },
    Route { method: "delete", path: "/api/v1/keys/{id}", errors: &[SESSION, &[Forbidden, NotFound]] },
    // Open311 answers these in the standard's error array, with its statuses (`open311::status_of`).
    Route { method: "get", path: "/open311/v2/discovery.{format}", errors: &[&[NotFound]] },
    Route { method: "get", path: "/open311/v2/services.{format}", errors: &[&[BadRequest, NotFound]] },
    Route { method: "get", path: "/open311/v2/services/{service_code}.{format}", errors: &[&[BadRequest, NotFound]] },
    Route { method: "get", path: "/open311/v2/requests.{format}", errors: &[&[BadRequest, NotFound]] },
    Route {
        method: "post",
        path: "/open311/v2/requests.{format}",
        errors: &[
            &[BadRequest, NotFound, PayloadTooLarge, InvalidApiKey, RateLimited, UnknownCategory, InvalidAttribute],
            &[InvalidCoordinates, OutsideServiceArea, InvalidReport, InvalidContact, IdempotencyKeyReused],
        ],
    },
    Route {
        method: "get",
        path: "/open311/v2/requests/{service_request_id}.{format}",
        errors: &[&[BadRequest, NotFound]],
    },
    Route { method: "get", path: "/open311/v2/tokens/{token}.{format}", errors: &[&[BadRequest, NotFound]] },
    Route { method: "get", path: "/api/v1/sensors", errors: &[SESSION, &[Forbidden]] },
    Route { method: "post", path: "/api/v1/sensors", errors: &[SESSION, JSON, sensors::routes::REGISTER_ERRORS] },
    Route { method: "delete", path: "/api/v1/sensors/{id}", errors: &[SESSION, &[Forbidden, NotFound]] },
    Route {
        method: "post",
        path: "/api/v1/sensors/{id}/alarms",
        errors: &[JSON, ACT, REFUSALS, sensors::routes::ALARM_ERRORS],
    },
];

/// The kinds `method` on the route `path` (as routed: `/api/v1/incidents/{id}`) may
/// answer, `internal` and `bad-request` among them; `None` for a route outside the API's description.
pub fn errors_of(method: &str, path: &str) -> Option<Vec<ErrorKind>> {
    let route = ROUTES.iter().find(|r| r.method.eq_ignore_ascii_case(method) && r.path == path)?;
    let mut kinds: Vec<ErrorKind> = route.errors.iter().flat_map(|group| group.iter().copied()).collect();
    kinds.push(Internal);
    // Any request may be one no route can read (a NUL in a path or a text, which
    // PostgreSQL cannot store): 400, whatever the route.
    kinds.push(BadRequest);
    kinds.sort();
    kinds.dedup();
    Some(kinds)
}

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "gridlink", description = "Grid-based social-governance dispatch. Errors are application/problem+json (RFC 9457)."),
    paths(
        health::healthz,
        geo::routes::locate,
        geo::routes::grids,
        geo::map::info,
        geo::map::tile,
        categories::routes::categories,
        auth::routes::login,
        auth::routes::refresh,
        auth::routes::logout,
        auth::routes::me,
        auth::admin::list,
        auth::admin::show,
        auth::admin::add,
        auth::admin::disable,
        auth::admin::enable,
        auth::admin::reset_password,
        auth::admin::revoke_device,
        attachments::routes::upload,
        attachments::routes::fetch,
        incidents::report::file_report,
        incidents::report::follow,
        incidents::report::rate,
        push::reports::subscribe,
        push::reports::unsubscribe,
        incidents::routes::list,
        incidents::routes::get_incident,
        incidents::contact::read_contact,
        crate::audit::export::case_trace,
        incidents::routes::incident_action,
        incidents::routes::task_action,
        inbox::routes::inbox,
        routing::routes::suggestion,
        routing::positions::positions,
        incidents::on_map::map_cases,
        crate::stats::routes::stats,
        crate::stats::routes::heat,
        incidents::presence::here,
        incidents::presence::gone,
        routing::routes::get_roster,
        routing::routes::put_roster,
        sync::socket::connect,
        sync::held::held,
        push::routes::key,
        push::routes::subscribe,
        push::routes::show,
        push::routes::unsubscribe,
        push::routes::test,
        crate::open311::keys::list_keys,
        crate::open311::keys::add_key,
        crate::open311::keys::revoke_key,
        crate::open311::services::discovery,
        crate::open311::services::services,
        crate::open311::services::definition,
        crate::open311::requests::get_requests,
        crate::open311::requests::post_request,
        crate::open311::requests::get_request,
        crate::open311::requests::get_token,
        sensors::routes::list,
        sensors::routes::register,
        sensors::routes::revoke,
        sensors::routes::alarm,
    ),
    components(schemas(crate::problem::ProblemDoc, crate::open311::Open311Error)),
    modifiers(&Bearer, &Errors),
    tags(
        (name = "geography", description = "Where points and grids are"),
        (name = "statistics", description = "The figures a centre is judged by"),
        (name = "reporting", description = "What residents report, and following it"),
        (name = "cases", description = "Cases and tasks, for staff: the closed loop"),
        (name = "routing", description = "Where cases should go: the rules' suggestions and the duty rosters"),
        (name = "sync", description = "Phones: the WebSocket of the sync protocol (see the sync-protocol crate)"),
        (name = "accounts", description = "Logging in and sessions; accounts, for administrators"),
        (name = "push", description = "Web Push: waking phones whose socket is closed (residents' news of a report: see reporting)"),
        (name = "operations", description = "Health"),
        (name = "open311", description = "Open311 GeoReport v2 at /open311/v2/ (errors in the standard's own array), and its API keys"),
        (name = "sensors", description = "Sensors (物联感知): registering them, and their alarms, which open cases"),
    )
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Adds to each operation its error answers from [`ROUTES`]: per status, a problem
/// document whose `type` is one of the route's kinds, each described.
struct Errors;

impl Modify for Errors {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        for (path, item) in api.paths.paths.iter_mut() {
            let operations = [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
            ];
            for (method, operation) in operations {
                let (Some(operation), Some(kinds)) = (operation.as_mut(), errors_of(method, path)) else { continue };
                // Open311's routes answer the standard's error array, with its statuses.
                let open311 = path.starts_with("/open311/");
                let mut by_status: BTreeMap<u16, Vec<ErrorKind>> = BTreeMap::new();
                for kind in kinds {
                    let status = if open311 { crate::open311::status_of(kind) } else { kind.status() };
                    by_status.entry(status).or_default().push(kind);
                }
                for (status, kinds) in by_status {
                    let response = if open311 { open311_response(&kinds) } else { problem_response(&kinds) };
                    operation.responses.responses.insert(status.to_string(), response.into());
                }
            }
        }
    }
}

/// A problem document of one of `kinds`.
fn problem_response(kinds: &[ErrorKind]) -> utoipa::openapi::Response {
    let described: Vec<String> = kinds.iter().map(|k| format!("`{}`: {}", k.slug(), k.description())).collect();
    let slugs: Vec<&str> = kinds.iter().map(|k| k.slug()).collect();
    let typed = ObjectBuilder::new()
        .property("type", ObjectBuilder::new().schema_type(Type::String).enum_values(Some(slugs)))
        .required("type");
    let schema = AllOfBuilder::new().item(Ref::from_schema_name("ProblemDoc")).item(typed);
    ResponseBuilder::new()
        .description(described.join("\n\n"))
        .content("application/problem+json", ContentBuilder::new().schema(Some(schema)).build())
        .build()
}

/// Open311's error array, answered for one of `kinds` (named in the description only: the
/// standard's body carries a status and a text).
fn open311_response(kinds: &[ErrorKind]) -> utoipa::openapi::Response {
    let described: Vec<String> = kinds.iter().map(|k| format!("`{}`: {}", k.slug(), k.description())).collect();
    let array = || utoipa::openapi::schema::ArrayBuilder::new().items(Ref::from_schema_name("Open311Error"));
    ResponseBuilder::new()
        .description(described.join("\n\n"))
        .content("application/json", ContentBuilder::new().schema(Some(array())).build())
        .content("text/xml", ContentBuilder::new().schema(Some(array())).build())
        .build()
}

/// The description as JSON.
#[get("/openapi.json")]
pub async fn describe() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_operation_has_its_errors_and_no_route_is_listed_twice() {
        let api = ApiDoc::openapi();
        let mut documented = 0;
        for (path, item) in &api.paths.paths {
            let methods = [("get", &item.get), ("put", &item.put), ("post", &item.post), ("delete", &item.delete)];
            for (method, operation) in methods {
                if operation.is_some() {
                    documented += 1;
                    assert!(errors_of(method, path).is_some(), "{method} {path} is not in ROUTES");
                }
            }
        }
        assert_eq!(documented, ROUTES.len(), "ROUTES lists a route the document does not have");
        let mut seen = std::collections::HashSet::new();
        assert!(ROUTES.iter().all(|r| seen.insert((r.method, r.path))), "a route is listed twice");
    }

    #[test]
    fn every_operation_is_under_a_declared_tag() {
        let json = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let declared: Vec<&str> = json["tags"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
        for (path, item) in json["paths"].as_object().unwrap() {
            let operations = item.as_object().unwrap().iter();
            for (method, operation) in
                operations.filter(|(m, _)| ["get", "put", "post", "patch", "delete"].contains(&m.as_str()))
            {
                let tags: Vec<&str> =
                    operation["tags"].as_array().into_iter().flatten().filter_map(|t| t.as_str()).collect();
                assert!(!tags.is_empty(), "{method} {path} has no tag");
                for tag in tags {
                    assert!(
                        declared.contains(&tag),
                        "{method} {path} is under {tag:?}, which the document does not declare"
                    );
                }
            }
        }
    }

    #[test]
    fn the_document_lists_a_routes_kinds_under_their_statuses() {
        let json = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let responses = &json["paths"]["/api/v1/tasks/{id}/actions"]["post"]["responses"];
        let types = |status: &str| -> Vec<String> {
            let all_of = responses[status]["content"]["application/problem+json"]["schema"]["allOf"].as_array();
            all_of
                .unwrap()
                .iter()
                .flat_map(|s| s["properties"]["type"]["enum"].as_array().cloned().unwrap_or_default())
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        assert!(types("403").contains(&"not-your-task".to_owned()));
        assert!(types("409").contains(&"task-parked".to_owned()));
        assert!(types("422").contains(&"unknown-attachment".to_owned()));
        assert_eq!(types("500"), ["internal"]);
        assert!(responses["200"].is_object(), "the success answer stays");
    }
}
