//! S3 multipart uploads that survive a kill: OpenDAL's S3 writer keeps its upload id to itself, so a killed copy
//! would start over. Here the upload id is kept in the catalog as soon as S3 gives it; the next try asks S3 which
//! parts it holds (ListParts) and sends only the rest, then completes the upload. Requests are signed with AWS
//! Signature Version 4 (every payload hashed), sent with the reqwest client OpenDAL's transport already uses.

use crate::error::{Error, Result};
use chrono::Utc;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// One part S3 holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// 1-based.
    pub number: u32,
    /// Its size.
    pub size: u64,
    /// Its ETag, as CompleteMultipartUpload wants it back (None when the server lists parts without one).
    pub etag: Option<String>,
}

/// The ETag S3 gives a part stored without KMS encryption: its MD5, quoted.
pub fn md5_etag(bytes: &[u8]) -> String {
    use md5::Digest as _;
    format!("\"{}\"", hex::encode(md5::Md5::digest(bytes)))
}

/// What a multipart request needs to know of the destination.
pub struct S3Client {
    http: reqwest::Client,
    dest: String,
    scheme: String,
    host: String,
    bucket: String,
    prefix: String,
    region: String,
    path_style: bool,
    access_key_id: String,
    secret: String,
}

/// Largest response body read (lists of parts are small; anything larger is not S3's).
const MAX_RESPONSE: usize = 16 << 20;

impl S3Client {
    /// A client for the bucket and prefix; no request is sent yet.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        dest: &str,
        endpoint: &str,
        bucket: &str,
        prefix: &str,
        region: &str,
        path_style: bool,
        access_key_id: &str,
        secret: &str,
    ) -> Result<S3Client> {
        let (scheme, host) = endpoint
            .split_once("://")
            .map(|(s, h)| (s.to_string(), h.trim_end_matches('/').to_string()))
            .ok_or_else(|| Error::DestinationFailed {
                dest: dest.to_string(),
                detail: format!("endpoint {endpoint} is not a URL"),
            })?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(600))
            .build()
            .map_err(|e| Error::DestinationFailed {
                dest: dest.to_string(),
                detail: format!("cannot start the HTTP client: {e}"),
            })?;
        Ok(S3Client {
            http,
            dest: dest.to_string(),
            scheme,
            host,
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            region: region.to_string(),
            path_style,
            access_key_id: access_key_id.to_string(),
            secret: secret.to_string(),
        })
    }

    fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    /// Starts an upload; returns its id. `metadata` become `x-amz-meta-*` headers.
    pub async fn create(&self, name: &str, metadata: &[(&str, &str)]) -> Result<String> {
        let headers: Vec<(String, String)> = metadata
            .iter()
            .map(|(k, v)| (format!("x-amz-meta-{k}"), v.to_string()))
            .collect();
        let body = self
            .send("POST", name, &[("uploads", "")], &headers, Vec::new())
            .await?;
        tag_text(&body, "UploadId")
            .ok_or_else(|| self.bad_answer("CreateMultipartUpload gave no UploadId"))
    }

    /// The parts S3 holds of an upload, or None when it no longer knows the upload (completed, aborted, expired).
    pub async fn list_parts(&self, name: &str, upload_id: &str) -> Result<Option<Vec<Part>>> {
        let mut parts = Vec::new();
        let mut marker = String::new();
        loop {
            let mut query = vec![("uploadId", upload_id)];
            if !marker.is_empty() {
                query.push(("part-number-marker", marker.as_str()));
            }
            let body = match self.send("GET", name, &query, &[], Vec::new()).await {
                Ok(body) => body,
                Err(Error::DestinationFailed { detail, .. }) if detail.contains("NoSuchUpload") => {
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            for part in tag_blocks(&body, "Part") {
                let number = tag_text(part, "PartNumber").and_then(|n| n.parse().ok());
                let size = tag_text(part, "Size").and_then(|n| n.parse().ok());
                let etag = tag_text(part, "ETag");
                if let (Some(number), Some(size)) = (number, size) {
                    parts.push(Part { number, size, etag });
                }
            }
            let truncated = tag_text(&body, "IsTruncated").is_some_and(|t| t == "true");
            let next = tag_text(&body, "NextPartNumberMarker").unwrap_or_default();
            if !truncated || next.is_empty() || next == marker || parts.len() > 10_000 {
                break;
            }
            marker = next;
        }
        Ok(Some(parts))
    }

    /// Sends one part; returns its ETag.
    pub async fn upload_part(
        &self,
        name: &str,
        upload_id: &str,
        number: u32,
        body: Vec<u8>,
    ) -> Result<String> {
        let number = number.to_string();
        let query = [("partNumber", number.as_str()), ("uploadId", upload_id)];
        let (_, headers) = self.send_full("PUT", name, &query, &[], body).await?;
        headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| self.bad_answer("UploadPart gave no ETag"))
    }

    /// Completes an upload from its parts in order.
    pub async fn complete(&self, name: &str, upload_id: &str, parts: &[Part]) -> Result<()> {
        let mut xml = String::from("<CompleteMultipartUpload>");
        for p in parts {
            xml.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                p.number,
                xml_escape(p.etag.as_deref().unwrap_or_default())
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let body = self
            .send(
                "POST",
                name,
                &[("uploadId", upload_id)],
                &[],
                xml.into_bytes(),
            )
            .await?;
        // S3 may answer 200 with an error inside the body.
        if let Some(code) = tag_text(&body, "Code") {
            return Err(Error::DestinationFailed {
                dest: self.dest.clone(),
                detail: format!("CompleteMultipartUpload failed: {code}"),
            });
        }
        Ok(())
    }

    /// Gives an upload up (its parts are deleted by S3).
    pub async fn abort(&self, name: &str, upload_id: &str) -> Result<()> {
        match self
            .send("DELETE", name, &[("uploadId", upload_id)], &[], Vec::new())
            .await
        {
            Ok(_) => Ok(()),
            Err(Error::DestinationFailed { detail, .. }) if detail.contains("NoSuchUpload") => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn bad_answer(&self, what: &str) -> Error {
        Error::DestinationFailed {
            dest: self.dest.clone(),
            detail: format!("the server's answer was not S3's: {what}"),
        }
    }

    async fn send(
        &self,
        method: &str,
        name: &str,
        query: &[(&str, &str)],
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Result<String> {
        let (body, _) = self.send_full(method, name, query, headers, body).await?;
        Ok(body)
    }

    async fn send_full(
        &self,
        method: &str,
        name: &str,
        query: &[(&str, &str)],
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Result<(String, reqwest::header::HeaderMap)> {
        let key = self.key(name);
        let (host, path) = if self.path_style {
            (
                self.host.clone(),
                format!("/{}/{}", self.bucket, uri_encode(&key, false)),
            )
        } else {
            (
                format!("{}.{}", self.bucket, self.host),
                format!("/{}", uri_encode(&key, false)),
            )
        };
        let mut sorted: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (uri_encode(k, true), uri_encode(v, true)))
            .collect();
        sorted.sort();
        let query_text = sorted
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let now = Utc::now();
        let signed = sign(&SignInput {
            method,
            host: &host,
            path: &path,
            query: &query_text,
            headers,
            payload_sha256: &hex::encode(Sha256::digest(&body)),
            amz_date: &now.format("%Y%m%dT%H%M%SZ").to_string(),
            date: &now.format("%Y%m%d").to_string(),
            region: &self.region,
            access_key_id: &self.access_key_id,
            secret: &self.secret,
        });
        let url = if query_text.is_empty() {
            format!("{}://{host}{path}", self.scheme)
        } else {
            format!("{}://{host}{path}?{query_text}", self.scheme)
        };
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| self.bad_answer("method"))?;
        let mut request = self.http.request(method, &url).body(body);
        for (k, v) in &signed {
            if k != "host" {
                request = request.header(k.as_str(), v.as_str());
            }
        }
        let response = request
            .send()
            .await
            .map_err(|e| Error::DestinationUnreachable {
                dest: self.dest.clone(),
                detail: format!("{}", e.without_url()),
            })?;
        let status = response.status();
        let response_headers = response.headers().clone();
        let bytes = read_limited(response, MAX_RESPONSE).await.map_err(|e| {
            Error::DestinationUnreachable {
                dest: self.dest.clone(),
                detail: e,
            }
        })?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if status.is_success() {
            return Ok((text, response_headers));
        }
        let code = tag_text(&text, "Code").unwrap_or_else(|| status.to_string());
        let detail = format!("{code} (HTTP {})", status.as_u16());
        Err(super::remote::http_status_error(
            &self.dest,
            status.as_u16(),
            detail,
        ))
    }
}

async fn read_limited(
    mut response: reqwest::Response,
    max: usize,
) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| e.without_url().to_string())?
    {
        if out.len() + chunk.len() > max {
            return Err(format!("the answer is larger than {max} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// What a request's signature covers.
struct SignInput<'a> {
    method: &'a str,
    host: &'a str,
    /// Already URI-encoded.
    path: &'a str,
    /// Canonical (sorted, encoded).
    query: &'a str,
    headers: &'a [(String, String)],
    payload_sha256: &'a str,
    amz_date: &'a str,
    date: &'a str,
    region: &'a str,
    access_key_id: &'a str,
    secret: &'a str,
}

/// AWS Signature Version 4: returns every header to send (lower-case names), `authorization` included.
fn sign(input: &SignInput) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = input
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    headers.push(("host".into(), input.host.to_string()));
    headers.push((
        "x-amz-content-sha256".into(),
        input.payload_sha256.to_string(),
    ));
    headers.push(("x-amz-date".into(), input.amz_date.to_string()));
    headers.sort();
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        input.method, input.path, input.query, input.payload_sha256
    );
    let scope = format!("{}/{}/s3/aws4_request", input.date, input.region);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        input.amz_date,
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let k_date = hmac(
        format!("AWS4{}", input.secret).as_bytes(),
        input.date.as_bytes(),
    );
    let k_region = hmac(&k_date, input.region.as_bytes());
    let k_service = hmac(&k_region, b"s3");
    let k_signing = hmac(&k_service, b"aws4_request");
    let signature = hex::encode(hmac(&k_signing, string_to_sign.as_bytes()));
    headers.push((
        "authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            input.access_key_id
        ),
    ));
    headers
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters stay, everything else is %XX; `/` stays in paths.
fn uri_encode(text: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b'/' if !encode_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn xml_unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#34;", "\"")
        .replace("&amp;", "&")
}

/// The text of the first `<tag>…</tag>` (entities undone).
fn tag_text(xml: &str, tag: &str) -> Option<String> {
    tag_blocks(xml, tag).next().map(|t| xml_unescape(t.trim()))
}

/// The inner text of every `<tag>…</tag>`, in order (no nesting of the same tag: S3's answers have none).
fn tag_blocks<'a>(xml: &'a str, tag: &str) -> impl Iterator<Item = &'a str> + 'a {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut rest = xml;
    std::iter::from_fn(move || {
        let start = rest.find(&open)? + open.len();
        let after = rest.get(start..)?;
        let end = after.find(&close)?;
        let inner = after.get(..end)?;
        rest = after.get(end + close.len()..).unwrap_or_default();
        Some(inner)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// AWS's own example for S3 SigV4 (GET Object with a Range header, from the S3 API reference "Signature
    /// Calculations for the Authorization Header: Transferring Payload in a Single Chunk").
    #[test]
    fn the_signature_is_the_one_aws_documents() {
        let headers = vec![("range".to_string(), "bytes=0-9".to_string())];
        let signed = sign(&SignInput {
            method: "GET",
            host: "examplebucket.s3.amazonaws.com",
            path: "/test.txt",
            query: "",
            headers: &headers,
            payload_sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            amz_date: "20130524T000000Z",
            date: "20130524",
            region: "us-east-1",
            access_key_id: "AKIAIOSFODNN7EXAMPLE",
            secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        });
        let auth = signed.iter().find(|(k, _)| k == "authorization").unwrap();
        assert_eq!(
            auth.1,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn parts_are_read_from_list_parts() {
        let xml = "<ListPartsResult><IsTruncated>false</IsTruncated>\
            <Part><PartNumber>1</PartNumber><ETag>&quot;abc&quot;</ETag><Size>8388608</Size></Part>\
            <Part><PartNumber>2</PartNumber><ETag>\"def\"</ETag><Size>10</Size></Part></ListPartsResult>";
        let parts: Vec<_> = tag_blocks(xml, "Part").collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(tag_text(parts[0], "ETag").unwrap(), "\"abc\"");
        assert_eq!(tag_text(parts[1], "Size").unwrap(), "10");
        assert_eq!(tag_text(xml, "Missing"), None);
        assert_eq!(uri_encode("a b/c+d", false), "a%20b/c%2Bd");
        assert_eq!(uri_encode("a/b", true), "a%2Fb");
    }
}
