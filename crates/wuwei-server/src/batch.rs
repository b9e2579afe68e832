//! Group commit: requests whose writes all pass one lock (SQLite's single writer, a town's
//! ledger head on PostgreSQL) hand their work to one worker task, which takes everything queued
//! meanwhile — up to a batch — into one transaction and answers each request with its own
//! outcome. Under load the lock is taken once per batch instead of once per request, and the
//! batch's rows are written with multi-row statements; alone, a request is a batch of one and
//! waits for nothing.
//!
//! Bounded: at most `queue_len` jobs wait (beyond that [`BatchError::Busy`], answered 503), at
//! most `max_batch` run together. A batch that panics answers its requests
//! [`BatchError::Gone`] (500) and the worker goes on with the next.

use std::collections::BTreeMap;
use std::future::Future;

use tokio::sync::{mpsc, oneshot};

/// Why a job got no outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// The queue is full: the server is overloaded; the client may retry later.
    #[error("the write queue is full")]
    Busy,
    /// The worker stopped (the server is shutting down) or the job's batch panicked.
    #[error("the write worker is gone")]
    Gone,
}

/// Run a batch's jobs in the groups that share a transaction (the jobs of one town), each group
/// through `together`, and give each job its own outcome, in the order given. A group failing
/// as a whole (a database error, two jobs under one idempotency key) is run again job by job,
/// so that one bad job costs the others only a retry. `lost` is the outcome of a job that
/// `together` left without one (a bug).
pub async fn per_group<'a, J, K, T, E, F, Fut>(
    what: &'static str,
    jobs: &'a [J],
    key: impl Fn(&J) -> K,
    together: F,
    lost: impl Fn() -> E,
) -> Vec<Result<T, E>>
where
    K: Ord,
    E: std::fmt::Debug,
    // The group by value (not a borrowed slice): the future then holds references of one
    // lifetime, which keeps it `Send` for the worker.
    F: Fn(Vec<&'a J>) -> Fut,
    Fut: Future<Output = Result<Vec<Result<T, E>>, E>>,
{
    let mut groups: BTreeMap<K, Vec<usize>> = BTreeMap::new();
    for (i, j) in jobs.iter().enumerate() {
        groups.entry(key(j)).or_default().push(i);
    }
    let mut out: Vec<Option<Result<T, E>>> = jobs.iter().map(|_| None).collect();
    for indexes in groups.into_values() {
        let group: Vec<&J> = indexes.iter().map(|&i| &jobs[i]).collect();
        match together(group.clone()).await {
            Ok(outcomes) => {
                for (&i, o) in indexes.iter().zip(outcomes) {
                    out[i] = Some(o);
                }
            }
            Err(e) if group.len() == 1 => out[indexes[0]] = Some(Err(e)),
            Err(e) => {
                tracing::warn!(error = ?e, jobs = group.len(), "a {what} batch failed; running its jobs one by one");
                for (&i, job) in indexes.iter().zip(&group) {
                    let alone = together(vec![*job]).await;
                    out[i] = Some(alone.and_then(|mut o| o.pop().unwrap_or_else(|| Err(lost()))));
                }
            }
        }
    }
    out.into_iter().map(|o| o.unwrap_or_else(|| Err(lost()))).collect()
}

impl From<BatchError> for crate::error::ApiError {
    fn from(e: BatchError) -> Self {
        match e {
            BatchError::Busy => {
                let mut e = crate::error::ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, "busy");
                // A full queue drains in well under a second at the writers' pace.
                e.retry_after_secs = Some(1);
                e
            }
            BatchError::Gone => crate::error::ApiError::internal(),
        }
    }
}

type Slot<J, R> = (J, oneshot::Sender<R>);

/// A queue of jobs `J` with one worker answering `R` for each.
pub struct Batcher<J, R> {
    sender: mpsc::Sender<Slot<J, R>>,
}

impl<J: Send + 'static, R: Send + 'static> Batcher<J, R> {
    /// Start the worker. `run` gets the jobs of one batch in arrival order and returns one
    /// outcome per job, in the same order. The worker ends when the `Batcher` is dropped.
    pub fn spawn<F, Fut>(queue_len: usize, max_batch: usize, mut run: F) -> Batcher<J, R>
    where
        F: FnMut(Vec<J>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        let (sender, mut receiver) = mpsc::channel::<Slot<J, R>>(queue_len.max(1));
        let max_batch = max_batch.max(1);
        let worker = async move {
            let mut slots = Vec::with_capacity(max_batch);
            let mut idle_since = std::time::Instant::now();
            while receiver.recv_many(&mut slots, max_batch).await > 0 {
                let started = std::time::Instant::now();
                let idle_us = started.duration_since(idle_since).as_micros();
                let (jobs, answers): (Vec<J>, Vec<oneshot::Sender<R>>) = slots.drain(..).unzip();
                let size = jobs.len();
                // A task of its own, so that a panic in one batch fails only that batch.
                match tokio::spawn(run(jobs)).await {
                    Ok(outcomes) => {
                        for (answer, outcome) in answers.into_iter().zip(outcomes) {
                            // The request may have gone (client disconnected): its outcome stands.
                            let _ = answer.send(outcome);
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "a write batch failed; its requests get 500"),
                }
                idle_since = std::time::Instant::now();
                // How busy the one writer is (`RUST_LOG=wuwei_server::batch=debug`): the first
                // thing to read when throughput stalls.
                tracing::debug!(size, busy_us = idle_since.duration_since(started).as_micros(), idle_us, "batch");
            }
        };
        // The worker runs on a thread and runtime of its own. It holds the lock every request
        // waits for, and each of its statements is a hand-off to the database driver and back:
        // on the shared runtime every hand-off would queue behind the ready request tasks
        // (measured: 7 ms for a batch of one under load, against well under 1 ms alone).
        let spawned = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .and_then(|rt| std::thread::Builder::new().name("wuwei-batch".into()).spawn(move || rt.block_on(worker)));
        if let Err(e) = spawned {
            // No thread: the receiver is gone with the closure, so every submit answers Gone.
            tracing::error!(error = %e, "the write batch worker could not start");
        }
        Batcher { sender }
    }

    /// Queue `job` and wait for its outcome.
    pub async fn submit(&self, job: J) -> Result<R, BatchError> {
        let (answer, outcome) = oneshot::channel();
        self.sender.try_send((job, answer)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => BatchError::Busy,
            mpsc::error::TrySendError::Closed(_) => BatchError::Gone,
        })?;
        outcome.await.map_err(|_| BatchError::Gone)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn each_job_gets_its_own_outcome_and_batches_are_bounded() {
        let largest = Arc::new(AtomicUsize::new(0));
        let seen = largest.clone();
        let b = Arc::new(Batcher::spawn(100, 4, move |jobs: Vec<u32>| {
            seen.fetch_max(jobs.len(), Ordering::SeqCst);
            async move {
                tokio::task::yield_now().await;
                jobs.into_iter().map(|j| j * 10).collect::<Vec<_>>()
            }
        }));
        let mut handles = Vec::new();
        for j in 0..20u32 {
            let b = b.clone();
            handles.push(tokio::spawn(async move { (j, b.submit(j).await) }));
        }
        for h in handles {
            let (j, out) = h.await.unwrap();
            assert_eq!(out, Ok(j * 10));
        }
        let largest = largest.load(Ordering::SeqCst);
        assert!((1..=4).contains(&largest), "batches of at most 4, got {largest}");
    }

    #[tokio::test]
    async fn a_full_queue_is_busy_and_a_panicking_batch_is_gone() {
        let (release, wait) = tokio::sync::watch::channel(false);
        let b = Arc::new(Batcher::spawn(1, 1, move |jobs: Vec<u32>| {
            let mut wait = wait.clone();
            async move {
                let _ = wait.wait_for(|go| *go).await;
                assert!(jobs[0] != 13, "unlucky");
                jobs
            }
        }));
        // The first job runs (and waits), the second waits in the queue, the third is refused.
        let first = tokio::spawn({
            let b = b.clone();
            async move { b.submit(13).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let second = tokio::spawn({
            let b = b.clone();
            async move { b.submit(2).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(b.submit(3).await, Err(BatchError::Busy));
        release.send(true).unwrap();
        assert_eq!(first.await.unwrap(), Err(BatchError::Gone));
        assert_eq!(second.await.unwrap(), Ok(2));
    }
}
