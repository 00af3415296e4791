//! Who an HTTP request is: HTTP Basic credentials checked against the same SCRAM verifiers as a
//! Postgres login, and the same rule for users without a password (trusted from the server's
//! own machine only).

use std::net::SocketAddr;

use axum::http::HeaderMap;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

use crate::access::scram::Verifier;
use crate::engine::Engine;

/// Standard base64, with or without its padding.
const BASE64: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent));

/// Why a request is not admitted: no or bad credentials (401).
#[derive(Debug)]
pub struct Refused(pub &'static str, pub String);

/// The user the request's `Authorization: Basic ...` names, if its password is right (or the user
/// has none and the request comes from this machine).
pub fn authenticate(engine: &Engine, headers: &HeaderMap, peer: SocketAddr) -> Result<String, Refused> {
    let header = headers.get(axum::http::header::AUTHORIZATION).ok_or_else(|| Refused("28000", "credentials required (HTTP Basic with a squall user)".into()))?;
    let encoded = header.to_str().ok().and_then(|h| h.strip_prefix("Basic ")).ok_or_else(|| Refused("28000", "only HTTP Basic credentials are accepted".into()))?;
    basic(engine, encoded, peer)
}

/// The user HTTP Basic's `base64(user:password)` names, if the password is right (or the user has
/// none and `peer` is this machine). Padding may be left out (Go's clients do).
pub fn basic(engine: &Engine, encoded: &str, peer: SocketAddr) -> Result<String, Refused> {
    let bad = || Refused("28P01", "password authentication failed".into());
    let decoded = BASE64.decode(encoded.trim()).ok().and_then(|d| String::from_utf8(d).ok()).ok_or_else(bad)?;
    let (name, password) = decoded.split_once(':').ok_or_else(bad)?;
    verify(engine, name, password, peer)
}

/// `name` if `password` is theirs, or the user has no password and `peer` is this machine, and
/// they may log in (the Postgres port's rules).
pub fn verify(engine: &Engine, name: &str, password: &str, peer: SocketAddr) -> Result<String, Refused> {
    let bad = || Refused("28P01", "password authentication failed".into());
    let Some(user) = engine.users.get(name) else { return Err(bad()) };
    let proven = match user.verifier.as_deref().map(Verifier::decode) {
        Some(Some(verifier)) => verifier.accepts(password),
        Some(None) => false,
        None => peer.ip().to_canonical().is_loopback(),
    };
    if !proven {
        return Err(bad());
    }
    match user.refuse_login() {
        Some(refusal) => Err(Refused("28000", refusal)),
        None => Ok(user.name),
    }
}
