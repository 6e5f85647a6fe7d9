//! Retrying temporary failures with exponential backoff and jitter, and
//! the clock every layer reads the time through.
//!
//! Below the engine and the HTTP source, which both retry with
//! [`Backoff`]; it imports nothing but the error type.

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};

/// Where the engine and the OAuth flow read the time. Tests inject a fixed
/// clock; neither calls `Utc::now()` itself.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The system clock.
pub(crate) fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// How temporary failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    /// Attempts in all, the first included.
    pub(crate) max_attempts: u32,
    /// The wait before the second attempt; doubles each time.
    pub(crate) base: Duration,
    /// The longest wait.
    pub(crate) max: Duration,
}

impl Backoff {
    /// The wait before attempt `attempt + 1`: `base * 2^(attempt-1)`, capped,
    /// with "full jitter" between half and all of it, so that many
    /// importers hitting one failure do not retry in lockstep.
    fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let capped = exp.min(self.max);
        // A random fraction from the std hasher's per-instance random keys:
        // no rand dependency for one number.
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let fraction = 0.5 + (random % 1000) as f64 / 2000.0;
        capped.mul_f64(fraction)
    }

    /// Runs `op` until it succeeds, fails with a non-temporary error, or
    /// the attempts run out ([`Error::RetriesExhausted`]).
    pub(crate) async fn run<T, F, Fut>(&self, what: &'static str, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut attempt = 1;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_temporary() && attempt < self.max_attempts => {
                    let wait = self.delay(attempt);
                    tracing::warn!(what, attempt, ?wait, error = %e, "temporary failure, retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) if e.is_temporary() && self.max_attempts > 1 => {
                    return Err(Error::RetriesExhausted {
                        attempts: attempt,
                        source: Box::new(e),
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    const B: Backoff = Backoff {
        max_attempts: 4,
        base: Duration::from_millis(100),
        max: Duration::from_secs(2),
    };

    #[test]
    fn delays_grow_and_stay_capped() {
        for attempt in 1..30 {
            let d = B.delay(attempt);
            let full = (B.base * (1 << (attempt - 1).min(20))).min(B.max);
            assert!(
                d >= full / 2 && d <= full,
                "attempt {attempt}: {d:?} vs {full:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_temporary_errors_then_succeeds() {
        let calls = AtomicU32::new(0);
        let got = B
            .run("test", || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(Error::store(
                        "job store",
                        "flaky",
                        std::io::Error::other("reset"),
                    ))
                } else {
                    Ok(7)
                }
            })
            .await
            .unwrap();
        assert_eq!((got, calls.load(Ordering::SeqCst)), (7, 3));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_attempts() {
        let calls = AtomicU32::new(0);
        let err = B
            .run("test", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::store(
                    "crm sink",
                    "down",
                    std::io::Error::other("refused"),
                ))
            })
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::RetriesExhausted { attempts: 4, .. }),
            "{err:?}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let err = B
            .run("test", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::RateLimited {
                    message: "TotalRequests Limit exceeded.".into(),
                    retry_after: None,
                })
            })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::RateLimited { .. }));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
