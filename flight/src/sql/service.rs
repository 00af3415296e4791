//! The Flight SQL calls, each checked for its caller ([`super::clients`]) and run through the
//! caller's squall session: the same planner, privileges (every GRANT), commands and executors as
//! a statement from psql.
//!
//! A statement runs when its `GetFlightInfo` arrives (prepared or not; DDL, INSERT, TRAIN MODEL
//! and the cluster commands too): a query's FlightInfo then names a ticket whose `DoGet` streams
//! the statement's batches as they come; another statement's has no endpoint and its row count in
//! `total_records`. `DoPut` runs updates (each bound parameter row once) and binds a prepared
//! query's parameters. `CancelFlightInfo` (and the older `CancelQuery`) stops the statement and
//! its jobs.

use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionCancelQueryRequest, ActionCancelQueryResult, ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, Any, CommandGetCatalogs, CommandGetDbSchemas, CommandGetPrimaryKeys, CommandGetSqlInfo,
    CommandGetTableTypes, CommandGetTables, CommandGetXdbcTypeInfo, CommandPreparedStatementQuery, CommandPreparedStatementUpdate,
    CommandStatementQuery, CommandStatementUpdate, DoPutPreparedStatementResult, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, ActionType, CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus, FlightDescriptor, FlightEndpoint, FlightInfo,
    HandshakeRequest, HandshakeResponse, IpcMessage, SchemaAsIpc, Ticket,
};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion::arrow::record_batch::RecordBatch;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use squall_engine::engine::Engine;
use squall_engine::error::SquallError;
use squall_engine::session::{Output, Prepared};
use squall_udf::settings::DATABASE;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use super::clients::{Client, Clients};
use super::metadata;
use super::results::{conform, flight_schema, parameter_schema, parameters, Statement, Store};
use super::status;

pub struct SquallFlightSql {
    engine: Arc<Engine>,
    clients: Clients,
    store: Arc<Store>,
}

impl SquallFlightSql {
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { engine, clients: Clients::default(), store: Arc::new(Store::default()) }
    }

    fn client<T>(&self, request: &Request<T>) -> Result<Arc<Client>, Status> {
        self.clients.of(&self.engine, request.metadata(), request.remote_addr())
    }

    /// Runs `prepared` (with `params`) in `client`'s session. A query's FlightInfo comes at once,
    /// with the plan's schema and a ticket whose `DoGet` waits for the rows (the statement runs
    /// meanwhile, and `CancelFlightInfo` can stop it); another statement runs to its end first,
    /// and its FlightInfo has its row count.
    async fn run(&self, client: &Arc<Client>, prepared: &Prepared, params: Option<datafusion::common::ParamValues>, descriptor: FlightDescriptor) -> Result<FlightInfo, Status> {
        let info = FlightInfo::new().with_descriptor(descriptor);
        let with_ticket = |info: FlightInfo, schema: &Schema, ticket: Vec<u8>| {
            let ticket = Ticket::new(TicketStatementQuery { statement_handle: ticket.into() }.as_any().encode_to_vec());
            info.try_with_schema(schema).map_err(status::bad_request).map(|info| info.with_endpoint(FlightEndpoint::new().with_ticket(ticket)))
        };
        if let Some(schema) = prepared.result_schema() {
            let schema = flight_schema(&schema);
            let ticket = self.store.start(Arc::clone(client), prepared.clone(), params, Arc::clone(&schema));
            return with_ticket(info, &schema, ticket);
        }
        let (output, running) = {
            let _turn = client.turn.lock().await;
            let output = client.session.execute(prepared, params).await.map_err(|e| status::of(&e))?;
            (output, client.session.running_statement())
        };
        match output {
            Output::Rows { schema, rows } => {
                let schema = flight_schema(&schema);
                let ticket = self.store.hold(Arc::clone(client), Arc::clone(&schema), rows, running);
                with_ticket(info, &schema, ticket)
            }
            Output::Done { rows, .. } => {
                let mut info = info.try_with_schema(&Schema::empty()).map_err(status::bad_request)?;
                info.total_records = rows.map_or(-1, |n| n as i64);
                Ok(info)
            }
            Output::TransactionStart | Output::TransactionEnd { .. } => info.try_with_schema(&Schema::empty()).map_err(status::bad_request),
            Output::CopyIn { .. } | Output::CopyOut { .. } => Err(status::coded(
                "0A000",
                "COPY ... FROM STDIN / TO STDOUT is the Postgres wire's; over Flight SQL, query the rows, INSERT them, or POST them to /v1/tables/<t>/rows",
            )),
        }
    }

    async fn prepare(&self, client: &Arc<Client>, query: &str) -> Result<Prepared, Status> {
        let _turn = client.turn.lock().await;
        client.session.prepare(query).await.map_err(|e| status::of(&e))
    }

    /// Runs an update (no rows expected): the rows it touched.
    async fn update(&self, client: &Arc<Client>, prepared: &Prepared, params: Option<datafusion::common::ParamValues>) -> Result<i64, Status> {
        let _turn = client.turn.lock().await;
        match client.session.execute(prepared, params).await.map_err(|e| status::of(&e))? {
            Output::Done { rows, .. } => Ok(rows.map_or(0, |n| n as i64)),
            Output::Rows { mut rows, .. } => {
                // A query sent as an update: its rows are read and counted, as executeUpdate does.
                let mut count = 0;
                while let Some(batch) = rows.next().await {
                    count += batch.map_err(|e| status::of(&SquallError::DataFusion(e)))?.num_rows() as i64;
                }
                Ok(count)
            }
            _ => Ok(0),
        }
    }

    /// `batch` encoded as a one-batch `DoGet` answer.
    fn one_batch(schema: SchemaRef, batch: Result<RecordBatch, FlightError>) -> Response<<Self as FlightService>::DoGetStream> {
        let stream = FlightDataEncoderBuilder::new().with_schema(schema).build(futures::stream::once(async { batch })).map_err(Status::from);
        Response::new(Box::pin(stream))
    }

    /// A metadata command's FlightInfo: its schema, and the command itself as the ticket.
    fn metadata_info(command: impl ProstMessageExt, schema: &Schema, descriptor: FlightDescriptor) -> Result<Response<FlightInfo>, Status> {
        let ticket = Ticket::new(command.as_any().encode_to_vec());
        let info = FlightInfo::new().try_with_schema(schema).map_err(status::bad_request)?.with_endpoint(FlightEndpoint::new().with_ticket(ticket)).with_descriptor(descriptor);
        Ok(Response::new(info))
    }

    /// The ticket of a FlightInfo's first endpoint, as this server wrote it.
    fn ticket_of(info: &FlightInfo) -> Option<Vec<u8>> {
        let ticket = info.endpoint.first()?.ticket.as_ref()?;
        let any = Any::decode(ticket.ticket.clone()).ok()?;
        let query: TicketStatementQuery = any.unpack().ok()??;
        Some(query.statement_handle.to_vec())
    }
}

fn ipc_schema(schema: &Schema) -> Result<Vec<u8>, Status> {
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default()).try_into().map_err(|e: datafusion::arrow::error::ArrowError| status::bad_request(e))?;
    Ok(bytes.to_vec())
}

fn flight_error(e: SquallError) -> FlightError {
    FlightError::Tonic(Box::new(status::of(&e)))
}

type BoxedStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl FlightSqlService for SquallFlightSql {
    type FlightService = SquallFlightSql;

    async fn do_handshake(&self, request: Request<Streaming<HandshakeRequest>>) -> Result<Response<BoxedStream<HandshakeResponse>>, Status> {
        let token = self.clients.handshake(&self.engine, request.metadata(), request.remote_addr())?;
        let answer = HandshakeResponse { protocol_version: 0, payload: token.clone().into() };
        let mut response: Response<BoxedStream<HandshakeResponse>> = Response::new(Box::pin(futures::stream::iter([Ok(answer)])));
        let bearer: MetadataValue<_> = format!("Bearer {token}").parse().map_err(|_| status::coded("XX000", "a token that is not a header value"))?;
        response.metadata_mut().insert("authorization", bearer);
        Ok(response)
    }

    async fn get_flight_info_statement(&self, query: CommandStatementQuery, request: Request<FlightDescriptor>) -> Result<Response<FlightInfo>, Status> {
        let client = self.client(&request)?;
        let prepared = self.prepare(&client, &query.query).await?;
        self.run(&client, &prepared, None, request.into_inner()).await.map(Response::new)
    }

    async fn get_flight_info_prepared_statement(&self, command: CommandPreparedStatementQuery, request: Request<FlightDescriptor>) -> Result<Response<FlightInfo>, Status> {
        let client = self.client(&request)?;
        let (owner, prepared, params) = self
            .store
            .statement(&command.prepared_statement_handle, &client.user)
            .ok_or_else(|| status::coded("26000", "no such prepared statement (closed, or prepared by another user)"))?;
        self.run(&owner, &prepared, params, request.into_inner()).await.map(Response::new)
    }

    async fn do_get_statement(&self, ticket: TicketStatementQuery, request: Request<Ticket>) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let client = self.client(&request)?;
        let handle = ticket.statement_handle.to_vec();
        let (schema, answer) = self.store.take(&handle, &client.user).await.ok_or_else(|| status::coded("26000", "no such result (already fetched, expired, or another user's)"))?;
        let rows = match answer {
            Ok(rows) => rows,
            Err(e) => {
                self.store.finished(&handle);
                return Err(status::of(&e));
            }
        };
        let store = Arc::clone(&self.store);
        // Forgotten once read to the end or dropped by the client.
        let forget = scopeguard(move || store.finished(&handle));
        let conformed_schema = Arc::clone(&schema);
        let batches = rows.map(move |batch| {
            let _keep = &forget;
            batch.and_then(|b| conform(&b, &conformed_schema)).map_err(|e| flight_error(SquallError::DataFusion(e)))
        });
        let stream = FlightDataEncoderBuilder::new().with_schema(schema).build(batches).map_err(Status::from);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn do_put_statement_update(&self, command: CommandStatementUpdate, request: Request<PeekableFlightDataStream>) -> Result<i64, Status> {
        let client = self.client(&request)?;
        let prepared = self.prepare(&client, &command.query).await?;
        self.update(&client, &prepared, None).await
    }

    async fn do_put_prepared_statement_query(&self, command: CommandPreparedStatementQuery, request: Request<PeekableFlightDataStream>) -> Result<DoPutPreparedStatementResult, Status> {
        let client = self.client(&request)?;
        let handle = command.prepared_statement_handle.to_vec();
        let (_, prepared, _) = self.store.statement(&handle, &client.user).ok_or_else(|| status::coded("26000", "no such prepared statement"))?;
        let batches: Vec<RecordBatch> = FlightRecordBatchStream::new_from_flight_data(request.into_inner().map_err(FlightError::from)).try_collect().await.map_err(Status::from)?;
        let types = prepared.parameter_types().map_err(|e| status::of(&e))?;
        let Some((batch, row)) = batches.iter().find(|b| b.num_rows() > 0).map(|b| (b, 0)) else {
            return Err(status::coded("08P01", "no parameter values were bound"));
        };
        if batches.iter().map(|b| b.num_rows()).sum::<usize>() > 1 {
            return Err(status::coded("0A000", "a query takes one row of parameters (several rows are for updates: executemany)"));
        }
        let params = parameters(batch, row, &types).map_err(|e| status::of(&e))?;
        self.store.bind(&handle, &client.user, params);
        Ok(DoPutPreparedStatementResult { prepared_statement_handle: Some(handle.into()) })
    }

    async fn do_put_prepared_statement_update(&self, command: CommandPreparedStatementUpdate, request: Request<PeekableFlightDataStream>) -> Result<i64, Status> {
        let client = self.client(&request)?;
        let (owner, prepared, bound) = self.store.statement(&command.prepared_statement_handle, &client.user).ok_or_else(|| status::coded("26000", "no such prepared statement"))?;
        let batches: Vec<RecordBatch> = FlightRecordBatchStream::new_from_flight_data(request.into_inner().map_err(FlightError::from)).try_collect().await.map_err(Status::from)?;
        let types = prepared.parameter_types().map_err(|e| status::of(&e))?;
        if types.is_empty() || batches.iter().all(|b| b.num_rows() == 0) {
            return self.update(&owner, &prepared, bound).await;
        }
        // Each row of parameters once (executemany), in order.
        let mut total = 0;
        for batch in &batches {
            for row in 0..batch.num_rows() {
                let params = parameters(batch, row, &types).map_err(|e| status::of(&e))?;
                total += self.update(&owner, &prepared, Some(params)).await?;
            }
        }
        Ok(total)
    }

    async fn do_action_create_prepared_statement(&self, query: ActionCreatePreparedStatementRequest, request: Request<Action>) -> Result<ActionCreatePreparedStatementResult, Status> {
        let client = self.client(&request)?;
        let prepared = self.prepare(&client, &query.query).await?;
        let dataset = prepared.result_schema().map(|s| flight_schema(&s)).unwrap_or_else(|| Arc::new(Schema::empty()));
        let types = prepared.parameter_types().map_err(|e| status::of(&e))?;
        let handle = self.store.prepare(Statement { client: Arc::clone(&client), prepared, params: None });
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.into(),
            dataset_schema: ipc_schema(&dataset)?.into(),
            parameter_schema: ipc_schema(&parameter_schema(&types))?.into(),
        })
    }

    async fn do_action_close_prepared_statement(&self, query: ActionClosePreparedStatementRequest, request: Request<Action>) -> Result<(), Status> {
        let client = self.client(&request)?;
        self.store.close(&query.prepared_statement_handle, &client.user);
        Ok(())
    }

    async fn do_action_cancel_query(&self, query: ActionCancelQueryRequest, request: Request<Action>) -> Result<ActionCancelQueryResult, Status> {
        let client = self.client(&request)?;
        let info = FlightInfo::decode(query.info).map_err(status::bad_request)?;
        let cancelled = Self::ticket_of(&info).is_some_and(|ticket| self.store.cancel(&ticket, &client.user));
        // ActionCancelQueryResult.CancelResult: 1 cancelled, 3 not cancellable.
        Ok(ActionCancelQueryResult { result: if cancelled { 1 } else { 3 } })
    }

    /// Flight's own `CancelFlightInfo` (Flight SQL 59 has no hook for it), and the session
    /// actions clients send when they close.
    async fn do_action_fallback(&self, request: Request<Action>) -> Result<Response<<Self as FlightService>::DoActionStream>, Status> {
        let client = self.client(&request)?;
        let action = request.into_inner();
        match action.r#type.as_str() {
            "CancelFlightInfo" => {
                let cancel = CancelFlightInfoRequest::decode(action.body).map_err(status::bad_request)?;
                let cancelled = cancel.info.as_ref().and_then(Self::ticket_of).is_some_and(|ticket| self.store.cancel(&ticket, &client.user));
                let result = CancelFlightInfoResult::new(if cancelled { CancelStatus::Cancelled } else { CancelStatus::NotCancellable });
                Ok(Response::new(Box::pin(futures::stream::iter([Ok(arrow_flight::Result::new(result.encode_to_vec()))]))))
            }
            "CloseSession" => Ok(Response::new(Box::pin(futures::stream::empty()))),
            other => Err(status::coded("0A000", &format!("squall's Flight SQL endpoint has no action {other}"))),
        }
    }

    async fn list_custom_actions(&self) -> Option<Vec<Result<ActionType, Status>>> {
        Some(vec![Ok(ActionType { r#type: "CancelFlightInfo".into(), description: "Stop the statement a FlightInfo came from, and its jobs".into() })])
    }

    async fn get_flight_info_catalogs(&self, query: CommandGetCatalogs, request: Request<FlightDescriptor>) -> Result<Response<FlightInfo>, Status> {
        self.client(&request)?;
        let schema = query.clone().into_builder().schema();
        Self::metadata_info(query, &schema, request.into_inner())
    }

    async fn do_get_catalogs(&self, query: CommandGetCatalogs, request: Request<Ticket>) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.client(&request)?;
        let mut builder = query.into_builder();
        builder.append(DATABASE);
        Ok(Self::one_batch(builder.schema(), builder.build()))
    }

    async fn get_flight_info_schemas(&self, query: CommandGetDbSchemas, request: Request<FlightDescriptor>) -> Result<Response<FlightInfo>, Status> {
        self.client(&request)?;
        let schema = query.clone().into_builder().schema();
        Self::metadata_info(query, &schema, request.into_inner())
    }

    async fn do_get_schemas(&self, query: CommandGetDbSchemas, request: Request<Ticket>) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.client(&request)?;
        let mut builder = query.into_builder();
        for schema in metadata::schemas(&self.engine) {
            builder.append(DATABASE, schema);
        }
        Ok(Self::one_batch(builder.schema(), builder.build()))
    }

    async fn get_flight_info_tables(&self, query: CommandGetTables, request: Request<FlightDescriptor>) -> Result<Response<FlightInfo>, Status> {
        self.client(&request)?;
        let schema = query.clone().into_builder().schema();
        Self::metadata_info(query, &schema, request.into_inner())
    }

    async fn do_get_tables(&self, query: CommandGetTables, request: Request<Ticket>) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.client(&request)?;
        let mut builder = query.into_builder();
        metadata::tables(&self.engine, &mut builder).await.map_err(|e| status::of(&SquallError::DataFusion(e)))?;
        Ok(Self::one_batch(builder.schema(), builder.build()))
    }

    async fn get_flight_info_table_types(&self, query: CommandGetTableTypes, request: Request<FlightDescriptor>) -> Result<Response<FlightInfo>, Status> {
        self.client(&request)?;
        let schema = query.clone().into_builder().schema();
        Self::metadata_info(query, &schema, request.into_inner())
    }

    async fn do_get_table_types(&self, query: CommandGetTableTypes, request: Request<Ticket>) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.client(&request)?;
        let mut builder = query.into_builder();
        for table_type in metadata::TABLE_TYPES {
            builder.append(table_type);
        }
        Ok(Self::one_batch(builder.schema(), builder.build()))
    }

    async fn get_flight_info_sql_info(&self, query: CommandGetSqlInfo, request: Request<FlightDescriptor>) -> Result<Response<FlightInfo>, Status> {
        self.client(&request)?;
        let schema = query.clone().into_builder(&metadata::SQL_INFO).schema();
        Self::metadata_info(query, &schema, request.into_inner())
    }

    async fn do_get_sql_info(&self, query: CommandGetSqlInfo, request: Request<Ticket>) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.client(&request)?;
        let builder = query.into_builder(&metadata::SQL_INFO);
        Ok(Self::one_batch(builder.schema(), builder.build()))
    }

    async fn get_flight_info_xdbc_type_info(&self, query: CommandGetXdbcTypeInfo, request: Request<FlightDescriptor>) -> Result<Response<FlightInfo>, Status> {
        self.client(&request)?;
        let schema = query.clone().into_builder(&metadata::XDBC_TYPES).schema();
        Self::metadata_info(query, &schema, request.into_inner())
    }

    async fn do_get_xdbc_type_info(&self, query: CommandGetXdbcTypeInfo, request: Request<Ticket>) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.client(&request)?;
        let builder = query.into_builder(&metadata::XDBC_TYPES);
        Ok(Self::one_batch(builder.schema(), builder.build()))
    }

    async fn get_flight_info_primary_keys(&self, query: CommandGetPrimaryKeys, request: Request<FlightDescriptor>) -> Result<Response<FlightInfo>, Status> {
        self.client(&request)?;
        Self::metadata_info(query, &metadata::primary_keys_schema(), request.into_inner())
    }

    async fn do_get_primary_keys(&self, _query: CommandGetPrimaryKeys, request: Request<Ticket>) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.client(&request)?;
        Ok(Self::one_batch(metadata::primary_keys_schema(), metadata::no_primary_keys().map_err(|e| flight_error(SquallError::DataFusion(e)))))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

/// Runs `f` when dropped.
fn scopeguard(f: impl FnOnce() + Send + Sync + 'static) -> impl Send + Sync + 'static {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}
