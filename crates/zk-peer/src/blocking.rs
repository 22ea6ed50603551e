//! Database work that may block (reading the log, writing epoch files) runs off the async
//! threads, unless the database says its operations are cheap: a deterministic simulation's toy
//! database runs everything on its one thread, in order.

use std::sync::Arc;

use crate::replica::{Replica, ReplicaError};

/// Runs `work` against the database: on a blocking thread, or inline when the database asks.
pub async fn run<T: Send + 'static>(
    replica: &Arc<dyn Replica>,
    work: impl FnOnce(&dyn Replica) -> Result<T, ReplicaError> + Send + 'static,
) -> Result<T, ReplicaError> {
    if replica.runs_inline() {
        return work(replica.as_ref());
    }
    let replica = replica.clone();
    tokio::task::spawn_blocking(move || work(replica.as_ref()))
        .await
        .map_err(|e| ReplicaError::from(format!("database task failed: {e}")))?
}
