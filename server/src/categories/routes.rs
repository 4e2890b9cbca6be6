//! `GET /api/v1/categories`: the category tree, for phones and report forms.

use actix_web::{HttpResponse, get, web};

use super::CategoryTree;

/// The whole tree: departments, and domains → classes → categories.
#[utoipa::path(
    get,
    path = "/api/v1/categories",
    responses((status = 200, description = "The category tree", body = CategoryTree)),
    tag = "reporting"
)]
#[get("/api/v1/categories")]
pub async fn categories(tree: web::Data<CategoryTree>) -> HttpResponse {
    HttpResponse::Ok().json(tree.get_ref())
}
