//! Background work, run at the server's own pace. Each job is a plain function that tests call
//! directly; `run_periodic` only decides when.

use std::time::Duration;

use wuwei_store::accounts;

use crate::state::AppState;

/// How often housekeeping runs.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(3600);

/// Delete sessions that expired more than a day ago; returns how many.
pub async fn housekeeping(state: &AppState) -> wuwei_store::Result<u64> {
    let now = state.now();
    let tx = state.store().begin_unaudited().await?;
    let purged = accounts::purge_expired_sessions(&tx, now).await?;
    tx.commit(now).await?;
    Ok(purged)
}

/// Runs the periodic jobs until the task is dropped (at shutdown).
pub async fn run_periodic(state: AppState) {
    let mut tick = tokio::time::interval(HOUSEKEEPING_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match housekeeping(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "expired sessions purged"),
            Err(e) => tracing::warn!(error = %e, "housekeeping failed; will retry"),
        }
    }
}
