//! The gridlink server seen from outside.
//!
//! [`TestServer::spawn`] starts a real server on a free loopback port (port 0) with the
//! demo area; tests talk to it over real HTTP, as phones and Open311 clients do. Later
//! issues add phones over real WebSockets and the load generator here.

use std::net::TcpListener;

use gridlink::settings::Settings;
use gridlink::startup::Application;

/// A running server and a client for it.
pub struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// An HTTP client.
    pub client: reqwest::Client,
    /// The server's SQLite file, removed when the test is done.
    database: std::path::PathBuf,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.database.display()));
        }
    }
}

/// Why a test server could not start.
#[derive(Debug)]
pub struct SpawnError(pub String);

/// A fresh SQLite file for one test server, in the system's temporary folder.
fn scratch_database() -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    std::env::temp_dir().join(format!("gridlink-test-{}-{n}.db", std::process::id()))
}

impl TestServer {
    /// Starts a server with the demo area on a free port, in the current tokio runtime.
    pub async fn spawn() -> Result<TestServer, SpawnError> {
        let database = scratch_database();
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| SpawnError(e.to_string()))?;
        let settings = Settings {
            bind: listener.local_addr().map_err(|e| SpawnError(e.to_string()))?,
            demo: true,
            snap_tolerance_m: 50.0,
            categories: None,
            database: format!("sqlite://{}", database.display()),
        };
        let app = Application::build(&settings, listener).map_err(|e| SpawnError(e.to_string()))?;
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        Ok(TestServer { base, client: reqwest::Client::new(), database })
    }

    /// POST a JSON body to `path` and return the status, content type and JSON body.
    pub async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(u16, String, serde_json::Value), reqwest::Error> {
        let response = self.client.post(format!("{}{path}", self.base)).json(body).send().await?;
        Self::read(response).await
    }

    async fn read(response: reqwest::Response) -> Result<(u16, String, serde_json::Value), reqwest::Error> {
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.json().await?;
        Ok((status, content_type, body))
    }

    /// POST a JSON body with a bearer token; returns the status and the body (JSON, or
    /// `null` when empty).
    pub async fn post_as(
        &self,
        token: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(u16, serde_json::Value), reqwest::Error> {
        let response = self.client.post(format!("{}{path}", self.base)).bearer_auth(token).json(body).send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)))
    }

    /// GET with a bearer token; returns the status and the JSON body.
    pub async fn get_as(&self, token: &str, path: &str) -> Result<(u16, serde_json::Value), reqwest::Error> {
        let response = self.client.get(format!("{}{path}", self.base)).bearer_auth(token).send().await?;
        let (status, _, body) = Self::read(response).await?;
        Ok((status, body))
    }

    /// GET `path` (with its query string) and return the status, content type and JSON body.
    pub async fn get(&self, path: &str) -> Result<(u16, String, serde_json::Value), reqwest::Error> {
        let response = self.client.get(format!("{}{path}", self.base)).send().await?;
        Self::read(response).await
    }
}
