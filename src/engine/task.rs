//! A spawned task that is aborted when dropped: the pages in flight of an
//! object that failed stop with it instead of writing on in the background.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::task::JoinHandle;

/// A future run on its own tokio task (in parallel with the caller's on a
/// multi-threaded runtime), aborted when this handle is dropped. A panic in
/// the task is resumed in the caller.
pub(crate) struct Task<T>(JoinHandle<T>);

impl<T: Send + 'static> Task<T> {
    pub(crate) fn spawn(future: impl Future<Output = T> + Send + 'static) -> Task<T> {
        Task(tokio::spawn(future))
    }
}

impl<T> Future for Task<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match ready!(Pin::new(&mut self.0).poll(cx)) {
            Ok(value) => Poll::Ready(value),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Only `Drop` aborts it, and then nobody polls it again.
            Err(e) => unreachable!("a task aborted while awaited: {e}"),
        }
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
