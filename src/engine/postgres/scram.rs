//! A SCRAM-SHA-256 password verifier, as PostgreSQL stores it, computed here so that the throwaway import
//! role's password never reaches the server (or its statement log) in clear text.

use sha2::{Digest, Sha256};

const ITERATIONS: u32 = 4096;

pub(super) use crate::engine::random_bytes;

/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` for `password` (ASCII, so SASLprep leaves it
/// as it is).
pub(super) fn verifier(password: &str, salt: &[u8]) -> String {
    let salted = pbkdf2_one_block(password.as_bytes(), salt, ITERATIONS);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac(&salted, b"Server Key");
    format!(
        "SCRAM-SHA-256${ITERATIONS}:{}${}:{}",
        base64(salt),
        base64(&stored_key),
        base64(&server_key)
    )
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    let digest;
    let key = if key.len() > 64 {
        digest = Sha256::digest(key);
        digest.as_slice()
    } else {
        key
    };
    for (b, k) in block.iter_mut().zip(key) {
        *b = *k;
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// PBKDF2-HMAC-SHA256 with a 32-byte output (one block).
fn pbkdf2_one_block(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut first = salt.to_vec();
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac(password, &first);
    let mut out = u;
    for _ in 1..iterations {
        u = hmac(password, &u);
        for (o, x) in out.iter_mut().zip(u.iter()) {
            *o ^= x;
        }
    }
    out
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let sextet = ((n >> (18 - 6 * i)) & 63) as usize;
                out.push(ALPHABET.get(sextet).copied().unwrap_or(b'=') as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_matches_python_hashlib_and_hmac() {
        // Computed with Python's hashlib.pbkdf2_hmac and hmac, as PostgreSQL's scram_build_secret does.
        assert_eq!(
            verifier("0123456789abcdef", b"saltsaltsaltsalt"),
            "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$Ipn+bffROtz5mte2DlYUfcGNPw39u5YPBK55eFvqQ4o=:j3A1PfIqu009yXavcqcpmB7iQESSAxUrm/5PfsPHxDQ="
        );
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abcd"), "YWJjZA==");
        assert_eq!(random_bytes(16).unwrap().len(), 16);
    }
}
