//! ZooKeeper's AdminServer (admin-and-4lw §2): `GET <commandURL>/<command>[?key=value...]` over
//! HTTP answers the command's JSON ([`crate::commands`]); `GET <commandURL>` lists the commands.
//! On by default, as in ZooKeeper 3.5-3.9, but on loopback unless `admin.serverAddress` says
//! otherwise. A port that cannot be bound is logged and the server runs on without it, as
//! ZooKeeper does.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::server::Shared;

/// Binds the AdminServer if it is enabled and serves it in the background.
pub async fn spawn(shared: Arc<Shared>) {
    let config = &shared.config;
    if !config.admin_enable_server {
        return;
    }
    let addr = format!(
        "{}:{}",
        config.admin_server_address, config.admin_server_port
    );
    let handler = shared.clone();
    crate::http::spawn("AdminServer", &addr, move |request| {
        respond(&handler, request)
    })
    .await;
}

fn respond(shared: &Shared, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let base = base_path(&shared.config.admin_command_url);
    let Some(command) = command_of(request.uri().path(), &base) else {
        return plain(StatusCode::NOT_FOUND, "Not Found\n");
    };
    if request.method() != Method::GET {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
    }
    if command.is_empty() {
        return index(&base);
    }
    let args = query_args(request.uri().query().unwrap_or(""));
    let answer = crate::commands::run(shared, &percent_decode(command), &args);
    let mut response = Response::new(Full::new(Bytes::from(answer.pretty())));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// `admin.commandURL` as a path prefix: one leading slash, no trailing one (empty for the root).
fn base_path(command_url: &str) -> String {
    match command_url.trim_matches('/') {
        "" => String::new(),
        trimmed => format!("/{trimmed}"),
    }
}

/// The command a request path names under `base`: `Some("")` for the command index, `None`
/// for a path outside `base`.
fn command_of<'a>(path: &'a str, base: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(base)?;
    match rest.strip_prefix('/') {
        Some(command) => Some(command),
        None if rest.is_empty() => Some(""),
        None => None,
    }
}

/// One link per command, as ZooKeeper's servlet prints them.
fn index(base: &str) -> Response<Full<Bytes>> {
    let mut page = String::new();
    for name in crate::commands::primary_names() {
        page.push_str(&format!("<a href=\"{base}/{name}\">{name}</a>\n<br/>\n"));
    }
    let mut response = Response::new(Full::new(Bytes::from(page)));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}

/// `a=1&b=2` as arguments; the first value of a key wins, as in ZooKeeper.
fn query_args(query: &str) -> HashMap<String, String> {
    let mut args = HashMap::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        args.entry(percent_decode(key))
            .or_insert_with(|| percent_decode(value));
    }
    args
}

/// Decodes `%XX` escapes and `+` (a space in a query); a malformed escape stays as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| text.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[index], escaped) {
            (_, Some(byte)) => {
                out.push(byte);
                index += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                index += 1;
            }
            (byte, None) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_commands_under_the_configured_url() {
        assert_eq!(base_path("/commands"), "/commands");
        assert_eq!(base_path("commands/"), "/commands");
        assert_eq!(base_path("/"), "");
        assert_eq!(command_of("/commands/ruok", "/commands"), Some("ruok"));
        assert_eq!(command_of("/commands/", "/commands"), Some(""));
        assert_eq!(command_of("/commands", "/commands"), Some(""));
        assert_eq!(command_of("/commandsx/ruok", "/commands"), None);
        assert_eq!(command_of("/other", "/commands"), None);
        assert_eq!(command_of("/ruok", ""), Some("ruok"));
        assert_eq!(command_of("/", ""), Some(""));
    }

    #[test]
    fn query_arguments_decode_and_keep_the_first_value() {
        let args = query_args("traceMask=306&traceMask=1&name=a%20b+c&flag&bad=%zz");
        assert_eq!(args["traceMask"], "306");
        assert_eq!(args["name"], "a b c");
        assert_eq!(args["flag"], "");
        assert_eq!(args["bad"], "%zz");
        assert!(query_args("").is_empty());
    }
}
