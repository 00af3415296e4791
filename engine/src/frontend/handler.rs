//! pgwire handlers: the simple and extended query protocols over a per-connection [`Session`].

use std::fmt::Debug;
use std::sync::Arc;

use arrow_pg::datatypes::df::deserialize_parameters;
use arrow_pg::datatypes::into_pg_type;
use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use futures::{Sink, SinkExt};
use pgwire::api::auth::StartupHandler;
use pgwire::api::cancel::CancelHandler;
use pgwire::api::copy::CopyHandler;
use pgwire::api::results::Tag;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};
use pgwire::messages::extendedquery::{Parse, ParseComplete};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, Response};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireServerHandlers, RandomPidSecretKeyGenerator, Type, DEFAULT_NAME};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::response::NoticeResponse;
use pgwire::messages::PgWireBackendMessage;
use pgwire::types::format::FormatOptions;
use squall_sql::{Command, Deallocate, Discard};

use super::encode::{to_response, FieldsMemo};
use super::errors::to_pg_error;
use super::statement::WireStatement;
use crate::access::startup::Authenticator;
use crate::engine::Engine;
use crate::session::{Prepared, Session};

/// Everything pgwire needs to serve one listener.
pub struct Handlers {
    queries: Arc<QueryHandler>,
    /// Process ids and cancel keys for every connection.
    keys: Arc<RandomPidSecretKeyGenerator>,
}

impl Handlers {
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { queries: Arc::new(QueryHandler { parser: Arc::new(Parser { engine }) }), keys: Default::default() }
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.queries.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.queries.clone()
    }

    /// Asked once per connection: the authenticator holds that connection's SCRAM exchange.
    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        let engine = &self.queries.parser.engine;
        Arc::new(Authenticator::new(engine.users.clone(), engine.connections.clone(), self.keys.clone()))
    }

    fn copy_handler(&self) -> Arc<impl CopyHandler> {
        self.queries.clone()
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::new(CancelRequests { backends: self.queries.parser.engine.backends.clone() })
    }
}

/// Cancel requests (psql's Ctrl-C, drivers' cancel) arrive on a connection of their own, naming
/// the session by the process id and secret key it was given at startup.
struct CancelRequests {
    backends: Arc<crate::session::interrupts::Backends>,
}

#[async_trait]
impl CancelHandler for CancelRequests {
    async fn on_cancel_request(&self, request: CancelRequest) {
        self.backends.cancel(request.pid, &request.secret_key.to_bytes());
    }
}

pub struct QueryHandler {
    parser: Arc<Parser>,
}

pub struct Parser {
    engine: Arc<Engine>,
}

impl Parser {
    /// The connection's session, created on its first statement and reachable by cancel requests
    /// for as long as the connection lives.
    fn session<C: ClientInfo + ?Sized>(&self, client: &C) -> Arc<Session> {
        if let Some(session) = client.session_extensions().get::<Session>() {
            return session;
        }
        let engine = self.engine.clone();
        let user = client.metadata().get(pgwire::api::METADATA_USER).cloned().unwrap_or_else(|| crate::BOOTSTRAP_SUPERUSER.to_string());
        let address = client.socket_addr().to_string();
        let startup = client.metadata().clone();
        let session = client.session_extensions().get_or_insert_with(move || Session::new(engine, user, address, &startup));
        if client.session_extensions().get::<crate::session::interrupts::BackendGuard>().is_none() {
            let (pid, secret) = client.pid_and_secret_key();
            client.session_extensions().insert(self.engine.backends.register(pid, secret.to_bytes().to_vec(), &session.interrupts));
        }
        session
    }
}

/// The Postgres fields of the result columns this connection was last sent (see [`FieldsMemo`]).
fn result_fields<C: ClientInfo + ?Sized>(client: &C) -> Arc<FieldsMemo> {
    client.session_extensions().get_or_insert_with(FieldsMemo::default)
}

/// How text results are written: the session's DateStyle, extra_float_digits, ... (start-up
/// message, then SET).
fn format_options(session: &Session) -> Arc<FormatOptions> {
    session.format_options()
}

#[async_trait]
impl SimpleQueryHandler for QueryHandler {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (started, started_at) = (std::time::Instant::now(), crate::epoch_ms());
        let session = self.parser.session(client);
        // DISCARD and DEALLOCATE drop what the connection holds (pgwire keeps its prepared
        // statements and portals), so the connection carries them out.
        let handled = match squall_sql::connection_command(query) {
            // `DEALLOCATE name` (psycopg, pgjdbc) names a statement the connection prepared through
            // the protocol, which pgwire keeps: it is dropped there.
            Some(Command::Deallocate(target)) => {
                let store = client.portal_store();
                Some(match &target {
                    Deallocate::All => {
                        deallocate_all(client);
                        Response::Execution(Tag::new(target.tag()))
                    }
                    Deallocate::Named(name) if store.get_statement(name).is_some() => {
                        store.rm_statement(name);
                        Response::Execution(Tag::new(target.tag()))
                    }
                    Deallocate::Named(name) => Response::Error(Box::new(ErrorInfo::new("ERROR".into(), "26000".into(), format!("prepared statement \"{name}\" does not exist")))),
                })
            }
            // `DISCARD ALL` is what connection poolers (pgbouncer's server_reset_query) send before
            // handing the connection to the next client: its portals are closed and its prepared
            // statements dropped here, the session does the rest.
            Some(Command::Discard(what)) => {
                if what == Discard::All {
                    client.portal_store().clear_portals();
                    deallocate_all(client);
                }
                Some(match crate::commands::discard::run(&session, what).await.err().map(|e| to_pg_error(&e)) {
                    None => Response::Execution(Tag::new(what.tag())),
                    Some(PgWireError::UserError(info)) => Response::Error(info),
                    Some(other) => return Err(other),
                })
            }
            _ => None,
        };
        // Handled by the connection, not the statement runner, so logged here.
        if let Some(response) = handled {
            let sqlstate = match &response {
                Response::Error(info) => info.code.clone(),
                _ => "00000".to_string(),
            };
            session.log_connection_command(query, started, started_at, &sqlstate);
            return Ok(vec![response]);
        }
        let options = format_options(&session);
        let results = result_fields(client);
        let mut responses = Vec::new();
        let outputs = with_notices(client, &session, session.run_text(query)).await?;
        for output in outputs {
            let response = match output {
                Ok(output) => to_response(output, &Format::UnifiedText, options.clone(), &results).await,
                Err(e) => Err(to_pg_error(&e)),
            };
            match response {
                Ok(response) => responses.push(response),
                Err(PgWireError::UserError(info)) => {
                    log_failure(&info.code, &info.message, query);
                    responses.push(Response::Error(info));
                    break;
                }
                Err(other) => return Err(other),
            }
        }
        if responses.is_empty() {
            responses.push(Response::EmptyQuery);
        }
        Ok(responses)
    }
}

#[async_trait]
impl ExtendedQueryHandler for QueryHandler {
    type Statement = WireStatement;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    /// Stores the statement as pgwire does, remembering its name if it has one: DEALLOCATE ALL
    /// and DISCARD ALL drop every named statement the connection prepared, as PostgreSQL does,
    /// and pgwire's store cannot list them.
    async fn on_parse<C>(&self, client: &mut C, message: Parse) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.clone().unwrap_or_else(|| DEFAULT_NAME.to_owned());
        match StoredStatement::parse(client, &message, self.query_parser()).await? {
            Some(statement) => client.portal_store().put_statement(Arc::new(statement)),
            None => client.portal_store().put_empty_statement(&name),
        }
        if message.name.as_deref().is_some_and(|given| !given.is_empty()) {
            client.session_extensions().get_or_insert_with(NamedStatements::default).remember(name);
        }
        client.send(PgWireBackendMessage::ParseComplete(ParseComplete::new())).await?;
        Ok(())
    }

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<Self::Statement>, _max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = self.parser.session(client);
        let prepared: &Prepared = &portal.statement.statement;
        let params = match &prepared.plan {
            Some(_) => {
                let types = prepared.parameter_types().map_err(|e| to_pg_error(&e))?;
                let refs: Vec<Option<&DataType>> = types.iter().map(Option::as_ref).collect();
                Some(deserialize_parameters(portal, &refs)?)
            }
            None => None,
        };
        let result = match with_notices(client, &session, session.execute(prepared, params)).await? {
            Ok(output) => to_response(output, &portal.result_column_format, format_options(&session), &result_fields(client)).await,
            Err(e) => Err(to_pg_error(&e)),
        };
        if let Err(PgWireError::UserError(info)) = &result {
            log_failure(&info.code, &info.message, &prepared.sql);
        }
        result
    }
}

/// The data of a COPY FROM STDIN, after the statement's CopyInResponse.
#[async_trait]
impl CopyHandler for QueryHandler {
    async fn on_copy_data<C>(&self, client: &mut C, copy_data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some(sender) = self.parser.session(client).copy_sender() {
            sender.send(copy_data.data).await;
        }
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = self.parser.session(client);
        match session.finish_copy().await {
            Ok(rows) => {
                client.send(PgWireBackendMessage::CommandComplete(Tag::new("COPY").with_rows(rows as usize).into())).await?;
                Ok(())
            }
            Err(e) => Err(to_pg_error(&e)),
        }
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        to_pg_error(&self.parser.session(client).abort_copy(fail.message).await)
    }
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = WireStatement;

    async fn parse_sql<C>(&self, client: &C, sql: &str, _types: &[Option<Type>]) -> PgWireResult<Option<WireStatement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        match self.session(client).prepare(sql).await {
            Ok(prepared) if prepared.is_empty() => Ok(None),
            Ok(prepared) => Ok(Some(prepared.into())),
            Err(e) => {
                let (code, message) = e.classified();
                log_failure(code, &message, sql);
                Err(to_pg_error(&e))
            }
        }
    }

    fn get_parameter_types(&self, stmt: &WireStatement) -> PgWireResult<Vec<Type>> {
        stmt.parameter_types()
            .map_err(|e| to_pg_error(&e))?
            .iter()
            .map(|t| match t {
                Some(t) => into_pg_type(t),
                None => Ok(Type::UNKNOWN),
            })
            .collect()
    }

    fn get_result_schema(&self, stmt: &WireStatement, format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        match stmt.result_schema() {
            Some(schema) => Ok(stmt.described.fields(&schema, format.unwrap_or(&Format::UnifiedText), None)?.as_ref().clone()),
            None => Ok(vec![]),
        }
    }
}

/// The names of the statements a connection prepared through the protocol (see `on_parse`).
#[derive(Default)]
struct NamedStatements(std::sync::Mutex<std::collections::BTreeSet<String>>);

impl NamedStatements {
    fn remember(&self, name: String) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(name);
    }

    fn take_all(&self) -> std::collections::BTreeSet<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// `DEALLOCATE ALL`: every statement the connection prepared is dropped.
fn deallocate_all<C: ClientInfo + ClientPortalStore>(client: &C)
where
    C::PortalStore: PortalStore,
{
    let names = client.session_extensions().get_or_insert_with(NamedStatements::default).take_all();
    for name in names {
        client.portal_store().rm_statement(&name);
    }
}

/// Runs `work` while sending the session's NOTICE messages to the client as they come, as
/// PostgreSQL does for RAISE NOTICE, so psql shows training progress while it runs.
async fn with_notices<C, T>(client: &mut C, session: &Session, work: impl std::future::Future<Output = T>) -> PgWireResult<T>
where
    C: Sink<PgWireBackendMessage> + Unpin,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let notice = |message: String| {
        PgWireBackendMessage::NoticeResponse(NoticeResponse::from(ErrorInfo::new("NOTICE".into(), "00000".into(), message)))
    };
    let (sink, mut messages) = tokio::sync::mpsc::unbounded_channel();
    session.set_notice_sink(Some(sink));
    tokio::pin!(work);
    let result = loop {
        tokio::select! {
            result = &mut work => break result,
            Some(message) = messages.recv() => client.send(notice(message)).await?,
        }
    };
    session.set_notice_sink(None);
    while let Ok(message) = messages.try_recv() {
        client.send(notice(message)).await?;
    }
    Ok(result)
}

fn log_failure(code: &str, message: &str, sql: &str) {
    if code == "XX000" {
        tracing::error!(sqlstate = code, %sql, "{message}");
    } else {
        tracing::debug!(sqlstate = code, %sql, "{message}");
    }
}
