//! `GET /api/v1/categories`: the category tree, for phones and report forms.

use actix_web::{HttpResponse, get, web};

use super::CategoryTree;

/// The whole tree: departments, and domains → classes → categories.
#[get("/api/v1/categories")]
pub async fn categories(tree: web::Data<CategoryTree>) -> HttpResponse {
    HttpResponse::Ok().json(tree.get_ref())
}
