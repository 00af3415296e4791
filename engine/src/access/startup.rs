//! Who may connect: pgwire's startup phase with squall's rules.
//!
//! - A user with a password proves it with SCRAM-SHA-256, from anywhere (28P01 if wrong).
//! - A user made with NOLOGIN (or by CREATE ROLE without LOGIN) is refused once authenticated
//!   (28000), as PostgreSQL refuses it.
//! - A user with a CONNECTION LIMIT who has that many sessions open is refused (53300).
//! - A user without a password may connect only from this machine (loopback), with PostgreSQL's
//!   `trust`: so a fresh squall is usable locally at once, and nothing is open to the network
//!   until passwords exist (the coordinator refuses a non-loopback listen address before then).
//! - Once any user has a password, a user who does not exist, or who has no password and connects
//!   from elsewhere, is challenged as if it had one and fails as a wrong password does (28P01,
//!   PostgreSQL's mock authentication): user names cannot be probed. Before that (only loopback
//!   is served) an unknown user gets 28000, as PostgreSQL answers for a role that does not exist.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::auth::{finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata, DefaultServerParameterProvider, StartupHandler};
use pgwire::api::{ClientInfo, PgWireConnectionState, PidSecretKeyGenerator, RandomPidSecretKeyGenerator, METADATA_USER};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::Authentication;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use super::scram::{self, Exchange, Failure, Verifier};
use super::connections::{Admitted, Connections};
use super::users::Users;

/// One connection's startup: created per connection by the front end.
pub struct Authenticator {
    users: Arc<Users>,
    /// Sessions per user, for CONNECTION LIMIT; this connection's place is kept in `admitted`.
    connections: Arc<Connections>,
    admitted: Mutex<Option<Admitted>>,
    /// Shared by every connection, so that process ids stay unique (cancel requests name them).
    keys: Arc<RandomPidSecretKeyGenerator>,
    state: Mutex<State>,
}

enum State {
    /// Waiting for the startup message.
    Start,
    /// SASL offered; waiting for the client-first message.
    Offered { user: String, verifier: Verifier },
    /// Server-first sent; waiting for the client's proof.
    Challenged { user: String, exchange: Exchange },
}

impl Authenticator {
    pub fn new(users: Arc<Users>, connections: Arc<Connections>, keys: Arc<RandomPidSecretKeyGenerator>) -> Self {
        Self { users, connections, admitted: Mutex::new(None), keys, state: Mutex::new(State::Start) }
    }

    /// Decides what happens after the startup message.
    fn admit<C: ClientInfo>(&self, client: &C) -> PgWireResult<Admission> {
        let Some(name) = client.metadata().get(METADATA_USER).cloned() else {
            return Err(fatal("28000", "no PostgreSQL user name specified in startup packet".into()));
        };
        let mock = || Ok(Admission::Challenge(name.clone(), self.users.mock_verifier(&name)));
        let Some(user) = self.users.get(&name) else {
            if self.users.any_password() {
                return mock();
            }
            return Err(fatal("28000", format!("role \"{name}\" does not exist")));
        };
        match user.verifier.as_deref().map(Verifier::decode) {
            Some(Some(verifier)) => Ok(Admission::Challenge(user.name, verifier)),
            Some(None) => Err(fatal("XX000", format!("the stored password of user \"{name}\" is unreadable"))),
            None if client.socket_addr().ip().to_canonical().is_loopback() => Ok(Admission::Trusted),
            // A user without a password may connect only from the server's own machine; from
            // elsewhere it is answered as anyone without the right password.
            None => mock(),
        }
    }
}

enum Admission {
    Trusted,
    Challenge(String, Verifier),
}

#[async_trait]
impl StartupHandler for Authenticator {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(startup) => {
                protocol_negotiation(client, &startup).await?;
                save_startup_parameters_to_metadata(client, &startup);
                match self.admit(client)? {
                    Admission::Trusted => self.finish(client).await,
                    Admission::Challenge(user, verifier) => {
                        *self.lock() = State::Offered { user, verifier };
                        client.set_state(PgWireConnectionState::AuthenticationInProgress);
                        client.send(PgWireBackendMessage::Authentication(Authentication::SASL(vec![scram::MECHANISM.into()]))).await?;
                        Ok(())
                    }
                }
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                let state = std::mem::replace(&mut *self.lock(), State::Start);
                match state {
                    State::Offered { user, verifier } => {
                        let initial = message.into_sasl_initial_response()?;
                        if initial.auth_method != scram::MECHANISM {
                            return Err(fatal("28000", format!("authentication method {} is not offered; use {}", initial.auth_method, scram::MECHANISM)));
                        }
                        let data = initial.data.unwrap_or_default();
                        let (exchange, server_first) = Exchange::start(verifier, &data).map_err(|f| failure(f, &user))?;
                        *self.lock() = State::Challenged { user, exchange };
                        client.send(PgWireBackendMessage::Authentication(Authentication::SASLContinue(server_first.into_bytes().into()))).await?;
                        Ok(())
                    }
                    State::Challenged { user, exchange } => {
                        let response = message.into_sasl_response()?;
                        let server_final = exchange.finish(&response.data).map_err(|f| failure(f, &user))?;
                        client.feed(PgWireBackendMessage::Authentication(Authentication::SASLFinal(server_final.into_bytes().into()))).await?;
                        self.finish(client).await
                    }
                    State::Start => Err(fatal("08P01", "unexpected password message".into())),
                }
            }
            _ => Ok(()),
        }
    }
}

impl Authenticator {
    async fn finish<C>(&self, client: &mut C) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
        let user = self.users.get(&name);
        // After the password, as PostgreSQL checks it: a NOLOGIN role's name is not revealed to
        // one who does not know its password.
        if let Some(refusal) = user.as_ref().and_then(|user| user.refuse_login()) {
            return Err(fatal("28000", refusal));
        }
        let limit = user.filter(|user| !user.superuser).and_then(|user| user.connection_limit);
        let admitted = self.connections.admit(&name, limit).map_err(|message| fatal("53300", message))?;
        *self.admitted.lock().unwrap_or_else(|p| p.into_inner()) = Some(admitted);
        let (pid, secret) = self.keys.generate(client);
        client.set_pid_and_secret_key(pid, secret);
        let mut parameters = DefaultServerParameterProvider::default();
        parameters.is_superuser = client.metadata().get(METADATA_USER).is_some_and(|u| self.users.is_superuser(u));
        finish_authentication(client, &parameters).await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn failure(failure: Failure, user: &str) -> PgWireError {
    match failure {
        Failure::Protocol(message) => fatal("08P01", message),
        Failure::WrongPassword => fatal("28P01", format!("password authentication failed for user \"{user}\"")),
    }
}

fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("FATAL".into(), code.into(), message)))
}
