//! The credential on internal calls: put on every call a node makes (through the one seam all of
//! Ballista's clients pass, `override_create_grpc_client_endpoint`) and checked on every call a
//! node serves (the scheduler's gRPC service, each executor's Flight service).
//!
//! It travels in the `user-agent` header: a tonic `Endpoint`, which is all that seam hands over,
//! can carry TLS settings and a user agent but no other header and no interceptor, and Ballista
//! makes its clients (executor → scheduler, scheduler → executor, shuffle reads between executors,
//! the coordinator's result reads) from an `Endpoint` each. tonic sends it as
//! `squall-node/<credential> tonic/<version>`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use ballista_core::extension::EndpointOverrideFn;
use tonic::{Request, Status};

use super::secret::ClusterSecret;
use super::tls::InternalTls;

/// What precedes the credential in the `user-agent` header.
const AGENT_PREFIX: &str = "squall-node/";

/// A refused call: who made it and what it was.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub peer: Option<SocketAddr>,
    /// The service method, e.g. `register_executor`, `do_get`.
    pub call: &'static str,
    /// The executor id the call claimed, when it names one.
    pub executor: Option<String>,
}

type RejectionHook = Arc<dyn Fn(&Rejection) + Send + Sync>;

/// Checks and adds this cluster's credential.
#[derive(Clone)]
pub struct InternalAuth {
    secret: ClusterSecret,
    /// TLS for every internal call, when on.
    pub tls: Option<InternalTls>,
    credential: Arc<str>,
    rejected: Arc<AtomicU64>,
    hook: Arc<OnceLock<RejectionHook>>,
}

impl std::fmt::Debug for InternalAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InternalAuth({:?})", self.secret)
    }
}

impl InternalAuth {
    pub fn new(secret: ClusterSecret, tls: Option<InternalTls>) -> Self {
        let credential = secret.credential().into();
        Self { secret, tls, credential, rejected: Default::default(), hook: Default::default() }
    }

    /// Puts the credential on every call through an endpoint (Ballista's client seam), and with
    /// internal TLS on, makes the call over TLS: Ballista names most of its peers `http://` or
    /// `df://` (it says `https://` only for Flight, with `ballista.client.use_tls`), and tonic
    /// speaks TLS only to `https://`, so such an endpoint is
    /// made again for `https://` with Ballista's default client settings, which are what it
    /// made them with.
    pub fn endpoint_override(&self) -> EndpointOverrideFn {
        let agent = format!("{AGENT_PREFIX}{}", self.credential);
        let tls = self.tls.as_ref().map(InternalTls::client_config);
        Arc::new(move |endpoint: tonic::transport::Endpoint| {
            let endpoint = match &tls {
                None => endpoint,
                Some(config) => {
                    let endpoint = match (endpoint.uri().scheme_str(), endpoint.uri().authority()) {
                        (Some("https"), _) | (_, None) => endpoint,
                        (_, Some(authority)) => ballista_core::utils::create_grpc_client_endpoint(
                            format!("https://{authority}"),
                            Some(&ballista_core::utils::GrpcClientConfig::default()),
                        )?,
                    };
                    endpoint.tls_config(config.clone())?
                }
            };
            Ok(endpoint.user_agent(agent.clone())?)
        })
    }

    /// An endpoint of another node of this cluster at `address` (`host:port`), with the
    /// credential and, when on, TLS: for squall's own calls (the executors' polls and orders).
    pub fn endpoint(&self, address: &str) -> Result<tonic::transport::Endpoint, Box<dyn std::error::Error + Send + Sync>> {
        (self.endpoint_override())(tonic::transport::Endpoint::from_shared(format!("http://{address}"))?)
    }

    /// A gRPC server builder that serves TLS when it is on.
    pub fn server(&self, config: &ballista_core::utils::GrpcServerConfig) -> Result<tonic::transport::Server, tonic::transport::Error> {
        let server = ballista_core::utils::create_grpc_server(config);
        match &self.tls {
            Some(tls) => server.tls_config(tls.server_config()),
            None => Ok(server),
        }
    }

    /// Whether `request` carries this cluster's credential. A call without it is refused with
    /// `Unauthenticated`, logged with its peer's address, counted, and handed to the hook set
    /// with [`Self::on_rejected`].
    pub fn check<T>(&self, request: &Request<T>, call: &'static str, executor: Option<&str>) -> Result<(), Status> {
        let presented = request
            .metadata()
            .get("user-agent")
            .and_then(|agent| agent.to_str().ok())
            .and_then(|agent| agent.split_whitespace().find_map(|part| part.strip_prefix(AGENT_PREFIX)));
        if presented.is_some_and(|credential| self.secret.verifies(credential)) {
            return Ok(());
        }
        let rejection = Rejection { peer: request.remote_addr(), call, executor: executor.map(str::to_string) };
        self.rejected.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            peer = ?rejection.peer,
            call,
            executor = rejection.executor.as_deref().unwrap_or(""),
            "refused an internal call {}",
            if presented.is_some() { "with a wrong cluster credential" } else { "without the cluster credential" }
        );
        if let Some(hook) = self.hook.get() {
            hook(&rejection);
        }
        Err(Status::unauthenticated(
            "this call must come from a node of the squall cluster, with a credential from its cluster secret",
        ))
    }

    /// A tonic interceptor that refuses every call without the credential (for services squall
    /// does not implement itself, such as Ballista's Flight service).
    pub fn interceptor(&self, call: &'static str) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone + Send + Sync + 'static {
        let auth = self.clone();
        move |request: Request<()>| auth.check(&request, call, None).map(|()| request)
    }

    /// Calls refused so far.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// What to do with each refused call besides logging and counting it (set once).
    pub fn on_rejected(&self, hook: impl Fn(&Rejection) + Send + Sync + 'static) {
        let _ = self.hook.set(Arc::new(hook));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(value: &str) -> InternalAuth {
        InternalAuth::new(ClusterSecret::from_value(&value.repeat(40), "test").unwrap(), None)
    }

    fn request_with_agent(agent: &str) -> Request<()> {
        let mut request = Request::new(());
        request.metadata_mut().insert("user-agent", agent.parse().unwrap());
        request
    }

    #[test]
    fn a_call_needs_this_clusters_credential_in_its_user_agent() {
        let (ours, theirs) = (auth("a"), auth("b"));
        let agent = format!("{AGENT_PREFIX}{} tonic/0.14.9", ours.credential);
        assert!(ours.check(&request_with_agent(&agent), "test", None).is_ok());
        let refused = theirs.check(&request_with_agent(&agent), "test", Some("exec-1")).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);
        assert!(ours.check(&Request::new(()), "test", None).is_err());
        assert!(ours.check(&request_with_agent("tonic/0.14.9"), "test", None).is_err());
        assert_eq!((ours.rejected(), theirs.rejected()), (2, 1));
    }

    #[test]
    fn the_endpoint_override_sets_the_agent_the_check_accepts() {
        let ours = auth("a");
        let endpoint = tonic::transport::Endpoint::from_static("http://127.0.0.1:1");
        assert!((ours.endpoint_override())(endpoint).is_ok());
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = seen.clone();
        ours.on_rejected(move |r| kept.lock().unwrap().push(r.call));
        let _ = ours.check(&Request::new(()), "register_executor", Some("exec-9"));
        assert_eq!(*seen.lock().unwrap(), vec!["register_executor"]);
    }
}
