//! One client connection: TLS negotiation, start-up, then each message through pgwire's handling
//! with squall's handlers. squall runs this loop itself (rather than `pgwire::tokio::process_socket`)
//! for one difference: bytes that are not a valid message (an unknown message type, a length past
//! the limit) are a protocol violation, which PostgreSQL answers with a FATAL 08P01 ErrorResponse
//! before closing, so the client can say why; pgwire's loop closes without a word.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use pgwire::api::{ClientInfo, PgWireConnectionState, PgWireServerHandlers};
use pgwire::error::{ErrorInfo, PgWireError};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::server::{negotiate_tls, process_error, process_message};
use tokio::net::TcpStream;
use tokio_util::codec::{Framed, FramedParts};

use super::handler::Handlers;
use super::write_buffer::WriteBuffer;

/// How long a client may take to start up and authenticate (PostgreSQL's `authentication_timeout`).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Serves one client until it leaves, breaks the protocol, or fails to start up in time.
pub(super) async fn serve(socket: TcpStream, tls: Option<pgwire::tokio::TlsAcceptor>, handlers: Arc<Handlers>) -> io::Result<()> {
    let startup_deadline = tokio::time::sleep(STARTUP_TIMEOUT);
    tokio::pin!(startup_deadline);
    let negotiated = tokio::select! {
        _ = &mut startup_deadline => return Ok(()),
        negotiated = negotiate_tls(socket, tls) => negotiated?,
    };
    // `None`: a direct TLS handshake to a server without TLS.
    let Some(negotiated) = negotiated else { return Ok(()) };
    // The same connection, its output held until the client must answer (see write_buffer.rs).
    let negotiated = negotiated.into_parts();
    let mut parts = FramedParts::new::<PgWireBackendMessage>(WriteBuffer::new(negotiated.io), negotiated.codec);
    (parts.read_buf, parts.write_buf) = (negotiated.read_buf, negotiated.write_buf);
    let mut socket = Framed::from_parts(parts);
    let (startup, simple, extended, copy, cancel) =
        (handlers.startup_handler(), handlers.simple_query_handler(), handlers.extended_query_handler(), handlers.copy_handler(), handlers.cancel_handler());
    loop {
        let starting = matches!(socket.state(), PgWireConnectionState::AwaitingStartup | PgWireConnectionState::AuthenticationInProgress);
        let next = if starting {
            tokio::select! {
                _ = &mut startup_deadline => return Ok(()),
                next = socket.next() => next,
            }
        } else {
            socket.next().await
        };
        let message = match next {
            None | Some(Ok(PgWireFrontendMessage::Terminate(_))) => return Ok(()),
            Some(Ok(message)) => message,
            Some(Err(PgWireError::IoError(e))) => return Err(e),
            Some(Err(violation)) => {
                // Where the next message starts is unknown now: say why, and close.
                let error = ErrorInfo::new("FATAL".into(), "08P01".into(), format!("invalid frontend message: {violation}"));
                tracing::debug!(peer = %socket.socket_addr(), "protocol violation: {violation}");
                socket.send(PgWireBackendMessage::ErrorResponse(error.into())).await?;
                return socket.close().await;
            }
        };
        if matches!(message, PgWireFrontendMessage::Flush(_)) {
            socket.get_mut().send_on_flush();
        }
        let extended_query = match socket.state() {
            PgWireConnectionState::CopyInProgress(extended_query) => extended_query,
            _ => message.is_extended_query(),
        };
        let handled = process_message(message, &mut socket, startup.clone(), simple.clone(), extended.clone(), copy.clone(), cancel.clone()).await;
        if let Err(error) = handled {
            process_error(&mut socket, error, extended_query).await?;
        }
    }
}
