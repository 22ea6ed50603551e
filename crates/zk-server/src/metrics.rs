//! ZooKeeper's Prometheus endpoint (`metricsProvider.className=...PrometheusMetricsProvider`):
//! `GET http://<metricsProvider.httpHost>:<metricsProvider.httpPort>/metrics` answers the
//! figures `mntr` reports in Prometheus' text format, named as ZooKeeper names them (mntr's
//! keys without `zk_`). Like ZooKeeper's provider: every metric's help is its name, values are
//! Java doubles, and an avg/min/max/cnt/sum family is a summary with only `_count` and `_sum`.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::json::{Json, java_double};
use crate::server::Shared;

/// The class name ZooKeeper's configuration names for its Prometheus provider.
const PROMETHEUS_PROVIDER: &str = "PrometheusMetricsProvider";

/// Serves `/metrics` in the background when the configuration asks for ZooKeeper's Prometheus
/// provider.
pub async fn spawn(shared: Arc<Shared>) {
    let config = &shared.config;
    let Some(class) = &config.metrics_provider_class_name else {
        return;
    };
    if !class.ends_with(PROMETHEUS_PROVIDER) {
        tracing::warn!(%class, "metricsProvider.className: only ZooKeeper's Prometheus provider is offered; no metrics endpoint");
        return;
    }
    let addr = format!(
        "{}:{}",
        config.metrics_provider_http_host, config.metrics_provider_http_port
    );
    let handler = shared.clone();
    crate::http::spawn("Prometheus metrics endpoint", &addr, move |request| {
        respond(&handler, request)
    })
    .await;
}

fn respond(shared: &Shared, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let status = if request.uri().path() != "/metrics" {
        Some((StatusCode::NOT_FOUND, "Not Found\n"))
    } else if request.method() != Method::GET {
        Some((StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n"))
    } else {
        None
    };
    let (body, content_type) = match status {
        Some((_, text)) => (text.to_string(), "text/plain; charset=utf-8"),
        None => (
            render(&crate::report::monitor(shared)),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    if let Some((code, _)) = status {
        *response.status_mut() = code;
    }
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// `mntr`'s figures in Prometheus' text format. Text values (the version, the server's state)
/// have no place there and are left out.
pub fn render(figures: &[(&str, Json)]) -> String {
    let summaries: HashSet<&str> = figures
        .iter()
        .filter_map(|(key, _)| key.strip_prefix("cnt_"))
        .collect();
    let mut out = String::new();
    for (key, value) in figures {
        let value = match value {
            Json::Int(value) => *value as f64,
            Json::Real(value) => *value,
            _ => continue,
        };
        let family = |prefix: &str| {
            key.strip_prefix(prefix)
                .filter(|name| summaries.contains(name))
        };
        if family("avg_")
            .or(family("min_"))
            .or(family("max_"))
            .is_some()
        {
            continue;
        }
        if let Some(name) = family("cnt_") {
            let _ = writeln!(out, "# HELP {name} {name}\n# TYPE {name} summary");
            let _ = writeln!(out, "{name}_count {}", java_double(value));
        } else if let Some(name) = family("sum_") {
            let _ = writeln!(out, "{name}_sum {}", java_double(value));
        } else {
            let _ = writeln!(out, "# HELP {key} {key}\n# TYPE {key} gauge");
            let _ = writeln!(out, "{key} {}", java_double(value));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_become_gauges_and_summaries() {
        let figures: Vec<(&str, Json)> = vec![
            ("version", "3.9.3".into()),
            ("avg_latency", Json::Real(0.5)),
            ("znode_count", 5i64.into()),
            ("avg_fsynctime", Json::Real(1.5)),
            ("min_fsynctime", 1i64.into()),
            ("max_fsynctime", 2i64.into()),
            ("cnt_fsynctime", 2i64.into()),
            ("sum_fsynctime", 3i64.into()),
            ("approximate_data_size", 12_345_678i64.into()),
        ];
        assert_eq!(
            render(&figures),
            "# HELP avg_latency avg_latency\n# TYPE avg_latency gauge\navg_latency 0.5\n\
             # HELP znode_count znode_count\n# TYPE znode_count gauge\nznode_count 5.0\n\
             # HELP fsynctime fsynctime\n# TYPE fsynctime summary\nfsynctime_count 2.0\n\
             fsynctime_sum 3.0\n\
             # HELP approximate_data_size approximate_data_size\n\
             # TYPE approximate_data_size gauge\napproximate_data_size 1.2345678E7\n"
        );
    }
}
