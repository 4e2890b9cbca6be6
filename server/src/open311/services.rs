//! `discovery`, `services` and `services/{service_code}`: what this endpoint is, and the
//! leaf categories of the tree as services, with their attributes.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::{Deserialize, Serialize};

use super::attributes::{Attributes, Choice, Datatype, Definition, domain_name, leaves};
use super::{CHANGESET, Format, Open311, SPECIFICATION, respond};
use crate::categories::{Category, CategoryTree, Limit, TimeUnit};
use crate::problem::ApiError;

/// The query every Open311 read takes: `jurisdiction_id`, which this endpoint accepts and
/// ignores (it serves one jurisdiction, the deployment's area; clients configured with a
/// jurisdiction of their own still work).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct Jurisdiction {
    /// Accepted and ignored: this endpoint serves one jurisdiction.
    #[allow(dead_code)]
    jurisdiction_id: Option<String>,
}

/// An endpoint of the discovery document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Endpoint {
    /// The standard.
    pub specification: &'static str,
    /// Where it is served.
    pub url: String,
    /// When its behaviour last changed.
    pub changeset: &'static str,
    /// `production`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The formats served.
    pub formats: Vec<&'static str>,
}

/// The discovery document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Discovery {
    /// When this endpoint's behaviour last changed.
    pub changeset: &'static str,
    /// Whom to ask.
    pub contact: &'static str,
    /// How to get an API key.
    pub key_service: &'static str,
    /// The endpoints: this one.
    pub endpoints: Vec<Endpoint>,
}

const CONTACT: &str = "本平台的管理员（administrators of this server）";
const KEY_SERVICE: &str = "读取无需密钥；提交服务请求需要管理员签发的 API 密钥（gridlink keys add，或 POST \
                           /api/v1/keys）。Reading needs no key; filing a request needs an API key issued by an \
                           administrator of this server.";

/// What this endpoint is: the standard, where, and in which formats.
#[utoipa::path(
    get,
    path = "/open311/v2/discovery.{format}",
    params(("format" = String, Path, description = "`json` or `xml`")),
    responses((status = 200, description = "The discovery document", content(
        (Discovery = "application/json"), (Discovery = "text/xml"))
    )),
    tag = "open311"
)]
#[get("/discovery.{format}")]
#[tracing::instrument(skip_all)]
pub async fn discovery(req: HttpRequest, format: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let format = Format::parse(&format)?;
    let info = req.connection_info();
    let url = format!("{}://{}/open311/v2", info.scheme(), info.host());
    let document = Discovery {
        changeset: CHANGESET,
        contact: CONTACT,
        key_service: KEY_SERVICE,
        endpoints: vec![Endpoint {
            specification: SPECIFICATION,
            url,
            changeset: CHANGESET,
            kind: "production",
            formats: vec!["application/json", "text/xml"],
        }],
    };
    respond(format, StatusCode::OK, "discovery", &document)
}

/// A service: a leaf category.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Service {
    /// The leaf category's code.
    pub service_code: String,
    /// Its name.
    pub service_name: String,
    /// What it is, who normally handles it and in what time.
    pub description: String,
    /// Whether it has attributes (see its definition).
    pub metadata: bool,
    /// `realtime`: a request gets its id at once.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Its domain's and class's names, comma-separated.
    pub keywords: String,
    /// Its class's name.
    pub group: String,
}

/// Who a level is, in words.
fn level_name(level: u8) -> &'static str {
    match level {
        1 => "市级",
        2 => "县（区）级",
        3 => "乡镇（街道）",
        4 => "村（社区）",
        _ => "网格",
    }
}

/// A limit in words.
fn limit_words(limit: Limit) -> String {
    let unit = match limit.unit {
        TimeUnit::UrgentHours => "小时",
        TimeUnit::WorkingHours => "个工作小时",
        TimeUnit::WorkingDays => "个工作日",
    };
    format!("{} {unit}", limit.amount)
}

/// What a requester should know of a service: its time limits to be taken in and handled.
pub fn notice(category: &Category) -> String {
    format!(
        "受理时限 {}，处置时限 {}（自派遣起）。",
        limit_words(category.limits.accept),
        limit_words(category.limits.handle)
    )
}

fn service(
    tree: &CategoryTree,
    attributes: &Attributes,
    category: &Category,
    class: &crate::categories::Class,
) -> Service {
    let domain = tree.domains.iter().find(|d| d.domain == category.domain).map_or("", |d| d.name.as_str());
    let department = category
        .department
        .as_ref()
        .and_then(|code| tree.departments.iter().find(|d| d.code == *code))
        .map(|d| format!("，{}负责", d.name))
        .unwrap_or_default();
    Service {
        service_code: category.code.clone(),
        service_name: category.name.clone(),
        description: format!(
            "{}（{domain}·{}）：通常由{}处置{department}。{}",
            category.name,
            class.name,
            level_name(category.level),
            notice(category)
        ),
        metadata: !attributes.of(category, &class.code).is_empty(),
        kind: "realtime",
        keywords: [domain, class.name.as_str(), domain_name(category.domain)].join(","),
        group: class.name.clone(),
    }
}

/// Every service: the tree's leaf categories, domain by domain.
#[utoipa::path(
    get,
    path = "/open311/v2/services.{format}",
    params(("format" = String, Path, description = "`json` or `xml`"), Jurisdiction),
    responses((status = 200, description = "Every service", content(
        (Vec<Service> = "application/json"), (Vec<Service> = "text/xml"))
    )),
    tag = "open311"
)]
#[get("/services.{format}")]
#[tracing::instrument(skip_all)]
pub async fn services(
    tree: web::Data<CategoryTree>,
    open311: web::Data<Open311>,
    format: web::Path<String>,
    _query: web::Query<Jurisdiction>,
) -> Result<HttpResponse, ApiError> {
    let format = Format::parse(&format)?;
    let list: Vec<Service> =
        leaves(&tree).map(|(category, class)| service(&tree, &open311.attributes, category, class)).collect();
    respond(format, StatusCode::OK, "services", &list)
}

/// An attribute of a service definition.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttributeView {
    /// `true`: the requester gives it (none here is only informative).
    pub variable: bool,
    /// The `CODE` of `attribute[CODE]`.
    pub code: String,
    /// `string`, `number`, `datetime`, `text`, `singlevaluelist` or `multivaluelist`.
    pub datatype: Datatype,
    /// Whether a request must give it.
    pub required: bool,
    /// What a value must look like.
    pub datatype_description: String,
    /// Its place in the definition, from 1.
    pub order: u32,
    /// What it asks.
    pub description: String,
    /// The keys of a list attribute (empty for others).
    pub values: Vec<Choice>,
}

/// A service's definition: its attributes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServiceDefinition {
    /// The service.
    pub service_code: String,
    /// Its attributes, in order.
    pub attributes: Vec<AttributeView>,
}

/// The definitions of the attributes of `category`, in order.
pub fn definitions<'a>(tree: &CategoryTree, attributes: &'a Attributes, code: &str) -> Option<Vec<&'a Definition>> {
    let (category, class) = leaves(tree).find(|(c, _)| c.code == code)?;
    Some(attributes.of(category, &class.code))
}

/// A service's definition: the attributes a request of it may or must give.
#[utoipa::path(
    get,
    path = "/open311/v2/services/{service_code}.{format}",
    params(
        ("service_code" = String, Path, description = "A leaf category's code"),
        ("format" = String, Path, description = "`json` or `xml`"),
        Jurisdiction,
    ),
    responses((status = 200, description = "The service's attributes", content(
        (ServiceDefinition = "application/json"), (ServiceDefinition = "text/xml"))
    )),
    tag = "open311"
)]
#[get("/services/{service_code}.{format}")]
#[tracing::instrument(skip_all)]
pub async fn definition(
    tree: web::Data<CategoryTree>,
    open311: web::Data<Open311>,
    path: web::Path<(String, String)>,
    _query: web::Query<Jurisdiction>,
) -> Result<HttpResponse, ApiError> {
    let (code, format) = path.into_inner();
    let format = Format::parse(&format)?;
    let Some(definitions) = definitions(&tree, &open311.attributes, &code) else {
        return Err(ApiError::NotFound(format!("no service {code}; see services.json")));
    };
    let attributes = definitions
        .iter()
        .zip(1..)
        .map(|(d, order)| AttributeView {
            variable: true,
            code: d.code.clone(),
            datatype: d.datatype,
            required: d.required,
            datatype_description: d.datatype_description.clone(),
            order,
            description: d.description.clone(),
            values: d.values.clone(),
        })
        .collect();
    respond(format, StatusCode::OK, "service_definition", &ServiceDefinition { service_code: code, attributes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_leaf_is_a_service_saying_who_handles_it() {
        let tree = CategoryTree::default_tree().unwrap();
        let attributes = Attributes::builtin().unwrap();
        let all: Vec<Service> = leaves(&tree).map(|(c, k)| service(&tree, &attributes, c, k)).collect();
        assert_eq!(all.len(), tree.categories().count());
        let cover = all.iter().find(|s| s.service_code == "C0101").unwrap();
        assert!(cover.metadata);
        assert_eq!(cover.group, "部件·公用设施");
        assert_eq!(cover.keywords, "大城管,部件·公用设施,city_management");
        assert!(
            cover.description.contains("网格") && cover.description.contains("城市管理局"),
            "{}",
            cover.description
        );
        assert!(cover.description.contains("处置时限 2 小时"), "{}", cover.description);
        assert!(all.iter().any(|s| !s.metadata), "some services have no attributes");
    }
}
