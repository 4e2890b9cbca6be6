//! The pages the server serves itself (docs/contract.md, "Pages"): the command centre at
//! `/`, the grid worker's app at `/m/` and the resident's page at `/r/`. The two phone
//! pages are installable web apps: each has a web app manifest and a service worker,
//! served from the page's own path so that the worker's scope is the page. Their sources live in `server/web/src`; `server/web/build.mjs` bundles them
//! into `server/web/dist`, which is committed and embedded in the binary at build time,
//! so a clone serves them with no npm step and a deployment is one file.
//!
//! Each script and style sheet is addressed with a hash of its contents (`?v=`), written
//! into the HTML when the server starts: the browser keeps them until they change.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use sha2::{Digest, Sha256};

use crate::problem::ApiError;

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// One embedded file, ready to serve.
#[derive(Debug)]
struct Asset {
    bytes: &'static [u8],
    content_type: &'static str,
    /// The first 16 hex digits of its SHA-256.
    version: String,
}

/// The embedded pages, indexed once at start.
#[derive(Debug)]
pub struct Pages {
    assets: HashMap<&'static str, Asset>,
    /// Each page's HTML with its assets' versions written in, by file name.
    html: HashMap<&'static str, String>,
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

impl Pages {
    /// Indexes the embedded files. (What they may load, and from where, is the
    /// Content-Security-Policy every answer carries: `crate::security`.)
    pub fn embedded() -> Pages {
        let assets: HashMap<&'static str, Asset> = ASSETS
            .iter()
            .map(|&(name, bytes)| {
                let digest = Sha256::digest(bytes);
                let version = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
                (name, Asset { bytes, content_type: content_type(name), version })
            })
            .collect();
        let html = assets
            .iter()
            .filter(|(name, _)| name.ends_with(".html"))
            .map(|(name, page)| {
                let mut text = String::from_utf8_lossy(page.bytes).into_owned();
                for (other, file) in &assets {
                    text = text.replace(&format!("{{{{{other}}}}}"), &file.version);
                }
                (*name, text)
            })
            .collect();
        Pages { assets, html }
    }

    /// A page's HTML.
    fn page(&self, name: &str) -> Option<&str> {
        self.html.get(name).map(String::as_str)
    }
}

fn html(pages: &Pages, name: &str) -> HttpResponse {
    match pages.page(name) {
        Some(text) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(text.to_owned()),
        None => HttpResponse::NotFound().finish(),
    }
}

/// `GET /`: the command centre.
#[get("/")]
pub async fn centre_page(pages: web::Data<Pages>) -> HttpResponse {
    html(&pages, "centre.html")
}

/// `GET /m/`: the grid worker's app.
#[get("/m/")]
pub async fn worker_page(pages: web::Data<Pages>) -> HttpResponse {
    html(&pages, "worker.html")
}

/// `GET /r/`: the resident's page.
#[get("/r/")]
pub async fn resident_page(pages: web::Data<Pages>) -> HttpResponse {
    html(&pages, "resident.html")
}

/// `GET /m` and `GET /r`: the phone pages live at their paths with a slash (the service
/// workers' scope), so a bare name is sent there.
#[get("/{app:m|r}")]
pub async fn phone_page_slash(app: web::Path<String>) -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header((header::LOCATION, format!("/{app}/"))).finish()
}

/// The embedded file behind a phone page's own path (`/m/…`, `/r/…`), if any.
fn phone_file(app: &str, name: &str) -> Option<&'static str> {
    let page = match app {
        "m" => "worker",
        "r" => "resident",
        _ => return None,
    };
    Some(match (page, name) {
        ("worker", "sw.js") => "worker-sw.js",
        ("resident", "sw.js") => "resident-sw.js",
        ("worker", "manifest.webmanifest") => "worker.webmanifest",
        ("resident", "manifest.webmanifest") => "resident.webmanifest",
        (_, "icon.svg") => "icon.svg",
        (_, "icon-192.png") => "icon-192.png",
        (_, "icon-512.png") => "icon-512.png",
        _ => return None,
    })
}

/// `GET /m/{file}` and `GET /r/{file}`: a phone page's service worker (`sw.js`), web app
/// manifest and icons. They keep their names across versions (a service worker's URL
/// must not change), so the browser revalidates them each time (`no-cache`, with an ETag).
#[get("/{app:m|r}/{file}")]
pub async fn phone_file_route(
    pages: web::Data<Pages>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (app, name) = path.into_inner();
    let Some(file) = phone_file(&app, &name).and_then(|n| pages.assets.get(n)) else {
        return Err(ApiError::NotFound(format!("no page file /{app}/{name}")));
    };
    Ok(serve(file, &request, false))
}

/// `GET /assets/{name}`: a script, style sheet or image of the pages. Asked for with its
/// current version (`?v=`), it may be kept for a year; otherwise it is revalidated.
#[get("/assets/{name}")]
pub async fn page_asset(
    pages: web::Data<Pages>,
    name: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let Some(file) = pages.assets.get(name.as_str()).filter(|_| !name.ends_with(".html")) else {
        return Err(ApiError::NotFound(format!("no page asset {:?}", name.as_str())));
    };
    let current = request.query_string().split('&').any(|pair| pair == format!("v={}", file.version));
    Ok(serve(file, &request, current))
}

/// A file with its ETag; kept a year when asked for by its `current` version, else revalidated.
fn serve(file: &Asset, request: &HttpRequest, current: bool) -> HttpResponse {
    let etag = format!("\"{}\"", file.version);
    let fresh = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let caching = if current { "public, max-age=31536000, immutable" } else { "no-cache" };
    let mut response = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, caching))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if fresh {
        return response.finish();
    }
    response.content_type(file.content_type).body(file.bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_centre_page_names_its_assets_by_their_versions() {
        let pages = Pages::embedded();
        let html = pages.page("centre.html").unwrap_or_default();
        for asset in ["centre.js", "centre.css"] {
            let version = &pages.assets[asset].version;
            assert!(html.contains(&format!("/assets/{asset}?v={version}")), "{html}");
        }
        assert!(!html.contains("{{"), "{html}");
    }

    #[test]
    fn each_phone_page_has_its_worker_manifest_and_icons() {
        let pages = Pages::embedded();
        for (app, page) in [("m", "worker.html"), ("r", "resident.html")] {
            let html = pages.page(page).unwrap_or_default();
            assert!(html.contains(&format!("/{app}/manifest.webmanifest")), "{html}");
            for name in ["sw.js", "manifest.webmanifest", "icon.svg", "icon-192.png", "icon-512.png"] {
                let file = phone_file(app, name).unwrap_or_else(|| panic!("/{app}/{name} names no file"));
                assert!(pages.assets.contains_key(file), "/{app}/{name} → {file} is not embedded");
            }
        }
        assert_eq!(phone_file("m", "centre.js"), None);
        assert_eq!(phone_file("x", "sw.js"), None);
    }
}
