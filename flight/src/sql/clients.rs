//! Who calls: a handshake with HTTP Basic credentials (checked against the same SCRAM verifiers
//! as a Postgres login) gives a bearer token, which every later call carries in its
//! `authorization` header; each token has its own squall session (its settings, its running
//! statement). A call without credentials is the `squall` superuser's only under the Postgres
//! port's rule: it has no password and the call comes from this machine.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use squall_engine::engine::Engine;
use squall_engine::http::credentials;
use squall_engine::session::Session;
use tonic::metadata::MetadataMap;
use tonic::Status;

use super::status;

/// Tokens unused this long are forgotten (the client handshakes again).
const IDLE: Duration = Duration::from_secs(8 * 3600);

/// The user trusted without credentials from this machine, as `psql -U squall` is.
const TRUSTED_USER: &str = "squall";

pub struct Client {
    pub user: String,
    pub session: Session,
    /// One statement at a time per session, as on a Postgres connection (its rows may stream on
    /// while the next runs).
    pub turn: tokio::sync::Mutex<()>,
    last_used: Mutex<Instant>,
}

#[derive(Default)]
pub struct Clients {
    by_token: Mutex<HashMap<String, Arc<Client>>>,
}

impl Clients {
    /// The handshake: `authorization: Basic base64(user:password)` → a new token.
    pub fn handshake(&self, engine: &Arc<Engine>, metadata: &MetadataMap, peer: Option<SocketAddr>) -> Result<String, Status> {
        let header = metadata.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let Some(encoded) = header.strip_prefix("Basic ").or_else(|| header.strip_prefix("basic ")) else {
            return Err(status::coded("28000", "the handshake needs HTTP Basic credentials of a squall user (authorization: Basic ...)"));
        };
        let peer = peer.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        let user = credentials::basic(engine, encoded, peer).map_err(|refused| status::coded(refused.0, &refused.1))?;
        let token = uuid::Uuid::new_v4().simple().to_string();
        let client = self.new_client(engine, user, peer);
        let mut by_token = self.by_token.lock().unwrap_or_else(|p| p.into_inner());
        by_token.retain(|_, c| c.last_used.lock().unwrap_or_else(|p| p.into_inner()).elapsed() < IDLE);
        by_token.insert(token.clone(), client);
        Ok(token)
    }

    fn new_client(&self, engine: &Arc<Engine>, user: String, peer: SocketAddr) -> Arc<Client> {
        let session = Session::new(Arc::clone(engine), user.clone(), format!("flight-sql {peer}"), &Default::default());
        Arc::new(Client { user, session, turn: tokio::sync::Mutex::new(()), last_used: Mutex::new(Instant::now()) })
    }

    /// The caller of a call: its token's client, or (no credentials) the trusted user's from this
    /// machine.
    pub fn of(&self, engine: &Arc<Engine>, metadata: &MetadataMap, peer: Option<SocketAddr>) -> Result<Arc<Client>, Status> {
        let header = metadata.get("authorization").and_then(|v| v.to_str().ok());
        let key = match header {
            Some(value) => {
                let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).ok_or_else(|| {
                    status::coded("28000", "calls carry the bearer token the handshake gave (authorization: Bearer ...)")
                })?;
                token.trim().to_string()
            }
            None => {
                let peer = peer.ok_or_else(|| status::coded("28000", "credentials required: handshake with a squall user's name and password"))?;
                // The Postgres port's rule: a user without a password, from this machine only
                // (with a password, the empty one is refused).
                credentials::verify(engine, TRUSTED_USER, "", peer)
                    .map_err(|_| status::coded("28000", "credentials required: handshake with a squall user's name and password"))?;
                format!("trusted {peer}")
            }
        };
        let mut by_token = self.by_token.lock().unwrap_or_else(|p| p.into_inner());
        let client = match by_token.get(&key) {
            Some(client) => Arc::clone(client),
            None if key.starts_with("trusted ") => {
                let peer = peer.expect("checked above");
                let client = self.new_client(engine, TRUSTED_USER.to_string(), peer);
                by_token.insert(key, Arc::clone(&client));
                client
            }
            None => return Err(status::coded("28000", "unknown or expired token: handshake again")),
        };
        *client.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        Ok(client)
    }
}
