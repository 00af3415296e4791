//! SCRAM-SHA-256 (RFC 5802/7677) as PostgreSQL does it: a password is stored only as its verifier
//! `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (the format of `pg_authid`), and a
//! client proves it knows the password without sending it. The verifier cannot be used to log in:
//! the proof needs ClientKey, of which the server keeps only the hash (StoredKey).

use aws_lc_rs::{digest, hmac};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

pub const MECHANISM: &str = "SCRAM-SHA-256";
/// PostgreSQL's default `scram_iterations`.
const ITERATIONS: usize = 4096;

/// What the server keeps of a password.
#[derive(Debug, Clone, PartialEq)]
pub struct Verifier {
    iterations: usize,
    salt: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl Verifier {
    /// The verifier of `password` with a fresh random salt.
    pub fn new(password: &str) -> Self {
        let mut salt = vec![0u8; 16];
        aws_lc_rs::rand::fill(&mut salt).expect("the system random source works");
        Self::with_salt(password, salt, ITERATIONS)
    }

    fn with_salt(password: &str, salt: Vec<u8>, iterations: usize) -> Self {
        let salted = pgwire::api::auth::sasl::scram::gen_salted_password(password, &salt, iterations);
        let client_key = hmac_sha256(&salted, b"Client Key");
        Self { iterations, salt, stored_key: sha256(&client_key), server_key: hmac_sha256(&salted, b"Server Key") }
    }

    /// What a user who does not exist (or may not log in with a password) is challenged with, as
    /// PostgreSQL's mock authentication does: its salt is derived from the server's secret `nonce`
    /// and the name, so that it is the same at every attempt as a real user's is, and its keys are
    /// random, so that no proof matches. The client sees the exchange and the failure (28P01) of a
    /// wrong password, with its timing: the costly part (the salted hash) is the client's.
    pub fn mock(user: &str, nonce: &[u8]) -> Self {
        let mut seed = nonce.to_vec();
        seed.extend_from_slice(user.as_bytes());
        let salt = sha256(&seed)[..16].to_vec();
        let mut keys = [0u8; 64];
        aws_lc_rs::rand::fill(&mut keys).expect("the system random source works");
        Self { iterations: ITERATIONS, salt, stored_key: keys[..32].to_vec(), server_key: keys[32..].to_vec() }
    }

    /// Whether `password` is the one this verifier was made from (HTTP Basic credentials, which
    /// carry the password itself; compared in constant time).
    pub fn accepts(&self, password: &str) -> bool {
        let candidate = Self::with_salt(password, self.salt.clone(), self.iterations);
        aws_lc_rs::constant_time::verify_slices_are_equal(&candidate.stored_key, &self.stored_key).is_ok()
    }

    /// PostgreSQL's text form.
    pub fn encode(&self) -> String {
        format!(
            "{MECHANISM}${}:{}${}:{}",
            self.iterations,
            BASE64.encode(&self.salt),
            BASE64.encode(&self.stored_key),
            BASE64.encode(&self.server_key)
        )
    }

    pub fn decode(text: &str) -> Option<Self> {
        let rest = text.strip_prefix(MECHANISM)?.strip_prefix('$')?;
        let (params, keys) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        Some(Self {
            iterations: iterations.parse().ok()?,
            salt: BASE64.decode(salt).ok()?,
            stored_key: BASE64.decode(stored).ok()?,
            server_key: BASE64.decode(server).ok()?,
        })
    }
}

/// The server's side of one exchange, between the client's first message and its last.
#[derive(Debug)]
pub struct Exchange {
    verifier: Verifier,
    /// `n=user,r=client-nonce` as the client sent it.
    client_first_bare: String,
    server_first: String,
    /// The GS2 header base64-encoded, which the client must echo as `c=` (no channel binding).
    channel_binding: String,
    nonce: String,
}

/// Why an exchange failed.
#[derive(Debug, PartialEq)]
pub enum Failure {
    /// The client broke the protocol (08P01).
    Protocol(String),
    /// The proof is wrong: not the password (28P01).
    WrongPassword,
}

impl Exchange {
    /// Reads the client-first message (`n,,n=,r=nonce`) and answers with server-first.
    pub fn start(verifier: Verifier, client_first: &[u8]) -> Result<(Self, String), Failure> {
        let mut random = [0u8; 18];
        aws_lc_rs::rand::fill(&mut random).expect("the system random source works");
        Self::start_with_nonce(verifier, client_first, &BASE64.encode(random))
    }

    fn start_with_nonce(verifier: Verifier, client_first: &[u8], server_nonce: &str) -> Result<(Self, String), Failure> {
        let text = std::str::from_utf8(client_first).map_err(|_| protocol("client-first message is not UTF-8"))?;
        // GS2 header: `n` (client cannot bind) or `y` (client could, server did not offer it);
        // squall does not offer SCRAM-SHA-256-PLUS, so `p=` is a protocol violation.
        let (header, bare) = match text.as_bytes().first() {
            Some(b'n' | b'y') => {
                let mut parts = text.splitn(3, ',');
                let flag = parts.next().unwrap_or_default();
                let authzid = parts.next().ok_or_else(|| protocol("malformed GS2 header"))?;
                let bare = parts.next().ok_or_else(|| protocol("malformed client-first message"))?;
                (format!("{flag},{authzid},"), bare)
            }
            Some(b'p') => return Err(protocol("channel binding was not offered")),
            _ => return Err(protocol("malformed GS2 header")),
        };
        let client_nonce = attribute(bare, 'r').ok_or_else(|| protocol("client-first message has no nonce"))?;
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!("r={nonce},s={},i={}", BASE64.encode(&verifier.salt), verifier.iterations);
        let exchange = Self {
            verifier,
            client_first_bare: bare.to_string(),
            server_first: server_first.clone(),
            channel_binding: BASE64.encode(header.as_bytes()),
            nonce,
        };
        Ok((exchange, server_first))
    }

    /// Checks the client-final message (`c=,r=,p=proof`); on success, the server-final message
    /// (`v=signature`) that proves to the client that the server knew the verifier.
    pub fn finish(&self, client_final: &[u8]) -> Result<String, Failure> {
        let text = std::str::from_utf8(client_final).map_err(|_| protocol("client-final message is not UTF-8"))?;
        let (without_proof, proof) = text.rsplit_once(",p=").ok_or_else(|| protocol("client-final message has no proof"))?;
        if attribute(without_proof, 'c') != Some(self.channel_binding.as_str()) {
            return Err(protocol("channel binding does not match"));
        }
        if attribute(without_proof, 'r') != Some(self.nonce.as_str()) {
            return Err(protocol("nonce does not match"));
        }
        let proof = BASE64.decode(proof).map_err(|_| protocol("proof is not base64"))?;
        let auth_message = format!("{},{},{without_proof}", self.client_first_bare, self.server_first);
        let client_signature = hmac_sha256(&self.verifier.stored_key, auth_message.as_bytes());
        if proof.len() != client_signature.len() {
            return Err(Failure::WrongPassword);
        }
        let client_key: Vec<u8> = proof.iter().zip(&client_signature).map(|(a, b)| a ^ b).collect();
        let matches = aws_lc_rs::constant_time::verify_slices_are_equal(&sha256(&client_key), &self.verifier.stored_key).is_ok();
        if !matches {
            return Err(Failure::WrongPassword);
        }
        let server_signature = hmac_sha256(&self.verifier.server_key, auth_message.as_bytes());
        Ok(format!("v={}", BASE64.encode(server_signature)))
    }
}

fn protocol(message: &str) -> Failure {
    Failure::Protocol(format!("malformed SCRAM message: {message}"))
}

/// The value of `name=` in a comma-separated SCRAM message.
fn attribute(message: &str, name: char) -> Option<&str> {
    message.split(',').find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message).as_ref().to_vec()
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, bytes).as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's side of the exchange (RFC 5802 section 3), to test the server's.
    fn client_final(password: &str, client_first_bare: &str, server_first: &str, header: &str) -> String {
        let salt = BASE64.decode(attribute(server_first, 's').unwrap()).unwrap();
        let iterations: usize = attribute(server_first, 'i').unwrap().parse().unwrap();
        let nonce = attribute(server_first, 'r').unwrap();
        let salted = pgwire::api::auth::sasl::scram::gen_salted_password(password, &salt, iterations);
        let client_key = hmac_sha256(&salted, b"Client Key");
        let without_proof = format!("c={},r={nonce}", BASE64.encode(header));
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = hmac_sha256(&sha256(&client_key), auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        format!("{without_proof},p={}", BASE64.encode(proof))
    }

    #[test]
    fn the_right_password_is_accepted_and_the_wrong_one_is_not() {
        let verifier = Verifier::new("pencil");
        for (password, ok) in [("pencil", true), ("pencil ", false), ("", false)] {
            let (exchange, server_first) = Exchange::start(verifier.clone(), b"n,,n=,r=rOprNGfwEbeRWgbNEkqO").unwrap();
            assert!(server_first.starts_with("r=rOprNGfwEbeRWgbNEkqO"));
            let result = exchange.finish(client_final(password, "n=,r=rOprNGfwEbeRWgbNEkqO", &server_first, "n,,").as_bytes());
            assert_eq!(result.is_ok(), ok, "{password:?}: {result:?}");
            if !ok {
                assert_eq!(result.unwrap_err(), Failure::WrongPassword);
            }
        }
    }

    #[test]
    fn rfc_7677_test_vector() {
        // RFC 7677 section 3: user "user", password "pencil".
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let verifier = Verifier::with_salt("pencil", salt, 4096);
        assert_eq!(Verifier::decode(&verifier.encode()).unwrap(), verifier);
        let (exchange, server_first) =
            Exchange::start_with_nonce(verifier, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0").unwrap();
        assert_eq!(server_first, "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
        let server_final = exchange
            .finish(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        assert_eq!(server_final, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
        assert!(Verifier::decode("md5abc").is_none());
    }

    #[test]
    fn the_verifier_does_not_contain_the_password() {
        let text = Verifier::new("correct horse").encode();
        assert!(!text.contains("correct horse"));
        assert_ne!(Verifier::new("correct horse").encode(), text, "salted: two verifiers of one password differ");
    }

    #[test]
    fn tampering_is_a_protocol_error() {
        let (exchange, server_first) = Exchange::start(Verifier::new("x"), b"y,,n=,r=abc").unwrap();
        let good = client_final("x", "n=,r=abc", &server_first, "y,,");
        assert!(exchange.finish(good.as_bytes()).is_ok());
        let wrong_binding = client_final("x", "n=,r=abc", &server_first, "n,,");
        assert!(matches!(exchange.finish(wrong_binding.as_bytes()), Err(Failure::Protocol(_))));
        assert!(matches!(Exchange::start(Verifier::new("x"), b"p=tls-server-end-point,,n=,r=abc"), Err(Failure::Protocol(_))));
        assert!(matches!(Exchange::start(Verifier::new("x"), b"garbage"), Err(Failure::Protocol(_))));
    }
}
