//! Connections to other executors' Flight services, kept open between shuffle reads: a
//! `BallistaClientPool` for Ballista's shuffle reader. Without one (`DefaultExecutionEngine::new`)
//! every fetch opened a connection of its own, and over internal TLS each paid a handshake: TPC-H
//! SF1 with executors in work directories of their own took 1.21x as long with TLS as without.
//! Ballista's own pool is not exported, so this is squall's, through the public trait.
//!
//! A connection is taken out while a fetch starts and put back after it; one that failed is
//! dropped (the reader discards it), and one idle for a minute is closed at the next acquire.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ballista_core::client::BallistaClient;
use ballista_core::client_pool::{BallistaClientPool, PooledClient};
use ballista_core::error::Result;
use ballista_core::extension::BallistaConfigGrpcEndpoint;
use ballista_core::utils::GrpcClientConfig;

/// How long an unused connection is kept.
const IDLE: Duration = Duration::from_secs(60);

/// Idle connections by peer and by whether they speak TLS.
type Idle = HashMap<(String, u16, bool), Vec<(BallistaClient, Instant)>>;

#[derive(Default, Clone)]
pub struct FlightClients {
    idle: Arc<Mutex<Idle>>,
}

impl std::fmt::Debug for FlightClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let idle: usize = self.idle.lock().unwrap_or_else(|p| p.into_inner()).values().map(Vec::len).sum();
        write!(f, "FlightClients({idle} idle)")
    }
}

impl FlightClients {
    fn take(&self, key: &(String, u16, bool)) -> Option<BallistaClient> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        for clients in idle.values_mut() {
            clients.retain(|(_, since)| now.duration_since(*since) < IDLE);
        }
        idle.get_mut(key).and_then(Vec::pop).map(|(client, _)| client)
    }

    fn give_back(&self, key: (String, u16, bool), client: BallistaClient) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).entry(key).or_default().push((client, Instant::now()));
    }
}

#[async_trait::async_trait]
impl BallistaClientPool for FlightClients {
    async fn acquire(
        &self,
        host: &str,
        port: u16,
        config: &GrpcClientConfig,
        customize_endpoint: Option<Arc<BallistaConfigGrpcEndpoint>>,
    ) -> Result<PooledClient> {
        let key = (host.to_string(), port, config.use_tls);
        let client = match self.take(&key) {
            Some(client) => client,
            None => {
                BallistaClient::try_new(
                    host,
                    port,
                    config.max_message_size,
                    config.use_tls,
                    customize_endpoint,
                    config.io_retries_times,
                    config.io_retry_wait_time_ms,
                    config.initial_connection_window_size,
                    config.initial_stream_window_size,
                )
                .await?
            }
        };
        let pool = self.clone();
        Ok(PooledClient::new(client, Box::new(move |client| pool.give_back(key, client))))
    }

    async fn evict_idle(&self) {
        let now = Instant::now();
        for clients in self.idle.lock().unwrap_or_else(|p| p.into_inner()).values_mut() {
            clients.retain(|(_, since)| now.duration_since(*since) < IDLE);
        }
    }
}
