//! The executor's Arrow Flight service (shuffle reads between executors, the coordinator's result
//! reads) behind the cluster's credential: Ballista's own service, served by squall through
//! `override_arrow_flight_service`, with every call checked before it reaches Ballista.

use std::sync::Arc;

use arrow_flight::flight_service_server::FlightServiceServer;
use ballista_core::error::BallistaError;
use ballista_executor::flight_service::BallistaFlightService;
use ballista_executor::ArrowFlightServerProvider;
use squall_engine::internal_auth::InternalAuth;
use squall_udf::settings;
use tonic::service::interceptor::InterceptedService;

/// Serves Ballista's Flight service on the address Ballista chose (over TLS when `auth` has it),
/// refusing calls without `auth`'s credential (`Unauthenticated`).
pub fn provider(auth: InternalAuth) -> Arc<ArrowFlightServerProvider> {
    Arc::new(move |work_dir, address, mut shutdown, grpc_config| {
        let service = FlightServiceServer::new(BallistaFlightService::new(work_dir))
            .max_decoding_message_size(settings::MAX_FLIGHT_MESSAGE)
            .max_encoding_message_size(settings::MAX_FLIGHT_MESSAGE);
        let service = InterceptedService::new(service, auth.interceptor("flight"));
        tracing::info!(%address, "Flight service listening (calls need the cluster credential)");
        let server = auth.server(&grpc_config);
        tokio::spawn(async move {
            server
                .map_err(BallistaError::TonicError)?
                .add_service(service)
                .serve_with_shutdown(address, shutdown.recv())
                .await
                .map_err(BallistaError::TonicError)
        })
    })
}
