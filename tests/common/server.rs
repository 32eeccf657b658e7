//! The real router on an ephemeral loopback port.

use std::net::{Ipv4Addr, SocketAddr};

use mutestore::{
    CorsPolicy, MemoryStore, MuteApi, MuteStore, SeedAuthenticator, SeedData, SeedDirectory,
    not_found_fallback,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::client::{HttpClient, Reply};
use super::{API_KEY, CLIENT_KEY, TOKEN};

/// The origin the test servers let through CORS.
pub const ALLOWED_ORIGIN: &str = "https://chat.example.com";

/// A running server; stopped when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub client: HttpClient,
    task: JoinHandle<()>,
}

impl TestServer {
    /// The demo seed over a fresh [`MemoryStore`].
    pub async fn demo() -> Self {
        Self::start(MemoryStore::new(), &SeedData::demo()).await
    }

    /// `store` with the hosts of `seed`, CORS for [`ALLOWED_ORIGIN`], JSON 404s elsewhere.
    pub async fn start<S: MuteStore + 'static>(store: S, seed: &SeedData) -> Self {
        let api = MuteApi::new(
            store,
            SeedAuthenticator::new(seed),
            SeedDirectory::new(seed),
        );
        let cors = CorsPolicy::allow_origins([ALLOWED_ORIGIN]).expect("a valid origin");
        Self::serve(api.into_router(cors).fallback(not_found_fallback)).await
    }

    /// Serves any app.
    pub async fn serve(app: axum::Router) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("an ephemeral port");
        let addr = listener.local_addr().expect("a bound address");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the server runs");
        });
        Self {
            addr,
            client: HttpClient::new(addr),
            task,
        }
    }

    /// A request with no headers and no body.
    pub async fn bare(&self, method: &str, path: &str) -> Reply {
        self.client.send(method, path, &[], Vec::new()).await
    }

    /// A `/me` request as the user of `token`.
    pub async fn as_user(&self, token: &str, method: &str, path: &str) -> Reply {
        self.client
            .send(
                method,
                path,
                &[
                    ("IM-CLIENT-KEY", CLIENT_KEY.as_bytes()),
                    ("IM-Authorization", token.as_bytes()),
                ],
                Vec::new(),
            )
            .await
    }

    /// A `/me` request as `demo-user`.
    pub async fn me(&self, method: &str, path: &str) -> Reply {
        self.as_user(TOKEN, method, path).await
    }

    /// An admin request with the demo API key.
    pub async fn admin(&self, method: &str, path: &str) -> Reply {
        self.client
            .send(
                method,
                path,
                &[("IM-API-KEY", API_KEY.as_bytes())],
                Vec::new(),
            )
            .await
    }

    /// `demo-user`'s muted rooms, read through `GET /me`.
    pub async fn my_rooms(&self) -> Vec<String> {
        let reply = self.me("GET", "/me").await;
        reply.expect_ok();
        reply.mute()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
