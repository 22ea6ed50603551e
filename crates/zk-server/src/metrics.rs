//! ZooKeeper's Prometheus endpoint (`metricsProvider.className=...PrometheusMetricsProvider`):
//! `GET http://<metricsProvider.httpHost>:<metricsProvider.httpPort>/metrics` answers the
//! figures `mntr` reports in Prometheus' text format, named as ZooKeeper names them (mntr's
//! keys without `zk_`). Like ZooKeeper's provider: every metric's help is its name, values are
//! Java doubles, and an avg/min/max/cnt/sum family is a summary (`_count`, `_sum`, and quantiles
//! where mntr has percentiles: 0.5, 0.95, 0.99, 0.999, where ZooKeeper's has 0.5, 0.9, 0.99).

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

/// The percentile keys of mntr's advanced summaries, and the quantile each is.
const QUANTILES: [(&str, &str); 4] = [
    ("p50_", "0.5"),
    ("p95_", "0.95"),
    ("p99_", "0.99"),
    ("p999_", "0.999"),
];

/// `mntr`'s figures in Prometheus' text format. Text values (the version, the server's state)
/// have no place there and are left out. A family with a `cnt_` figure becomes one summary:
/// its quantiles (from mntr's percentiles, labelled as simpleclient 0.9 labels them), `_count`
/// and `_sum`.
pub fn render(figures: &[(&str, Json)]) -> String {
    let numbers: Vec<(&str, f64)> = figures
        .iter()
        .filter_map(|(key, value)| match value {
            Json::Int(value) => Some((*key, *value as f64)),
            Json::Real(value) => Some((*key, *value)),
            _ => None,
        })
        .collect();
    let value_of = |key: &str| numbers.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let summaries: HashSet<&str> = numbers
        .iter()
        .filter_map(|(key, _)| key.strip_prefix("cnt_"))
        .collect();
    let in_summary = |key: &str| {
        ["avg_", "min_", "max_", "sum_"]
            .into_iter()
            .chain(QUANTILES.map(|(prefix, _)| prefix))
            .any(|prefix| {
                key.strip_prefix(prefix)
                    .is_some_and(|name| summaries.contains(name))
            })
    };
    let mut out = String::new();
    for &(key, value) in &numbers {
        if let Some(name) = key.strip_prefix("cnt_") {
            let _ = writeln!(out, "# HELP {name} {name}\n# TYPE {name} summary");
            for (prefix, quantile) in QUANTILES {
                if let Some(at) = value_of(&format!("{prefix}{name}")) {
                    let _ = writeln!(
                        out,
                        "{name}{{quantile=\"{quantile}\",}} {}",
                        java_double(at)
                    );
                }
            }
            let _ = writeln!(out, "{name}_count {}", java_double(value));
            let sum = value_of(&format!("sum_{name}")).unwrap_or(0.0);
            let _ = writeln!(out, "{name}_sum {}", java_double(sum));
        } else if !in_summary(key) {
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
            ("avg_readlatency", Json::Real(1.0)),
            ("min_readlatency", 0i64.into()),
            ("max_readlatency", 4i64.into()),
            ("cnt_readlatency", 4i64.into()),
            ("sum_readlatency", 4i64.into()),
            ("p50_readlatency", 1i64.into()),
            ("p95_readlatency", 3i64.into()),
            ("p99_readlatency", 4i64.into()),
            ("p999_readlatency", 4i64.into()),
        ];
        assert_eq!(
            render(&figures),
            "# HELP avg_latency avg_latency\n# TYPE avg_latency gauge\navg_latency 0.5\n\
             # HELP znode_count znode_count\n# TYPE znode_count gauge\nznode_count 5.0\n\
             # HELP fsynctime fsynctime\n# TYPE fsynctime summary\nfsynctime_count 2.0\n\
             fsynctime_sum 3.0\n\
             # HELP approximate_data_size approximate_data_size\n\
             # TYPE approximate_data_size gauge\napproximate_data_size 1.2345678E7\n\
             # HELP readlatency readlatency\n# TYPE readlatency summary\n\
             readlatency{quantile=\"0.5\",} 1.0\nreadlatency{quantile=\"0.95\",} 3.0\n\
             readlatency{quantile=\"0.99\",} 4.0\nreadlatency{quantile=\"0.999\",} 4.0\n\
             readlatency_count 4.0\nreadlatency_sum 4.0\n"
        );
    }
}
