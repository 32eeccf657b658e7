//! HTTP clients for the tests: hyper for ordinary requests, raw TCP for bytes no client would send.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response as the tests look at it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON; panics with the body if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `result.mute` of a success envelope.
    pub fn mute(&self) -> Vec<String> {
        let json = self.json();
        json["result"]["mute"]
            .as_array()
            .unwrap_or_else(|| panic!("no result.mute in {json}"))
            .iter()
            .map(|room| room.as_str().expect("room ids are strings").to_owned())
            .collect()
    }

    /// Asserts a 200 success envelope and returns `result`.
    pub fn expect_ok(&self) -> Value {
        let json = self.json();
        assert_eq!(self.status, 200, "{json}");
        assert_eq!(json["RC"], 0, "{json}");
        assert_eq!(json["RM"], "OK", "{json}");
        self.expect_json_content_type();
        json["result"].clone()
    }

    /// Asserts the error envelope of `status`, `reason` and `code`.
    pub fn expect_error(&self, status: u16, reason: &str, code: &str) {
        let json = self.json();
        assert_eq!(
            (self.status, json["error"]["code"].as_str()),
            (status, Some(code)),
            "{json}"
        );
        assert_eq!(json["RC"], status, "{json}");
        assert_eq!(json["RM"], reason, "{json}");
        let message = json["error"]["message"].as_str().expect("a message");
        assert!(message.ends_with('.'), "a sentence: {message}");
        assert_eq!(
            json.as_object().map(|o| o.len()),
            Some(3),
            "nothing else: {json}"
        );
        self.expect_json_content_type();
    }

    pub fn expect_json_content_type(&self) {
        assert_eq!(
            self.header("content-type"),
            Some("application/json; charset=utf-8")
        );
    }
}

/// A hyper client for one server.
#[derive(Clone)]
pub struct HttpClient {
    addr: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl HttpClient {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Sends one request and returns the response with its body still to be read.
    pub async fn send_streaming(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &[u8])],
        body: Vec<u8>,
    ) -> hyper::Response<hyper::body::Incoming> {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .expect("a well-formed request");
        self.client.request(request).await.expect("a response")
    }

    /// Sends one request; `path` goes on the wire exactly as given.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &[u8])],
        body: Vec<u8>,
    ) -> Reply {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .expect("a well-formed request");
        let response = self.client.request(request).await.expect("a response");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("a whole body")
            .to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }
}

/// Writes `request` as raw bytes on a new connection and returns everything the server sends
/// until it closes the connection (send `Connection: close`).
pub async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    response
}

/// The status code and JSON body of a raw HTTP/1.1 response with a `Content-Length` body.
pub fn parse_raw_response(response: &[u8]) -> (u16, String, Value) {
    let text = String::from_utf8_lossy(response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let json = serde_json::from_str(body).unwrap_or(Value::Null);
    (status, head.to_owned(), json)
}
