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
}

/// Why a test server could not start.
#[derive(Debug)]
pub struct SpawnError(pub String);

impl TestServer {
    /// Starts a server with the demo area on a free port, in the current tokio runtime.
    pub async fn spawn() -> Result<TestServer, SpawnError> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| SpawnError(e.to_string()))?;
        let settings = Settings {
            bind: listener.local_addr().map_err(|e| SpawnError(e.to_string()))?,
            demo: true,
            snap_tolerance_m: 50.0,
            categories: None,
        };
        let app = Application::build(&settings, listener).map_err(|e| SpawnError(e.to_string()))?;
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        Ok(TestServer { base, client: reqwest::Client::new() })
    }

    /// GET `path` (with its query string) and return the status, content type and JSON body.
    pub async fn get(&self, path: &str) -> Result<(u16, String, serde_json::Value), reqwest::Error> {
        let response = self.client.get(format!("{}{path}", self.base)).send().await?;
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
}
