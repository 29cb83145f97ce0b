//! Connections opened, per target: a layer on each HTTP client's connector that counts every
//! connection it established (TCP, and the TLS handshake over it, done). The counts belong to the
//! process, not to one client: a reload builds new clients, and the counter goes on.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// Connections opened by target name (`llmsoak_connections_opened_total`).
#[derive(Debug, Default)]
pub struct Connections {
    by_target: Mutex<Vec<(String, Arc<AtomicU64>)>>,
}

impl Connections {
    /// The counter of `target` (made on first use).
    pub(super) fn counter(&self, target: &str) -> Arc<AtomicU64> {
        let mut all = self.by_target.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, c)) = all.iter().find(|(name, _)| name == target) {
            return Arc::clone(c);
        }
        let c = Arc::new(AtomicU64::new(0));
        all.push((target.to_string(), Arc::clone(&c)));
        c
    }

    /// Every target's count so far.
    pub fn snapshot(&self) -> Vec<(String, u64)> {
        let all = self.by_target.lock().unwrap_or_else(|e| e.into_inner());
        all.iter()
            .map(|(name, c)| (name.clone(), c.load(Ordering::Relaxed)))
            .collect()
    }
}

/// The connector layer that counts.
#[derive(Debug, Clone)]
pub(super) struct Count(pub(super) Arc<AtomicU64>);

impl<S> tower_layer::Layer<S> for Count {
    type Service = Counted<S>;
    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            opened: Arc::clone(&self.0),
        }
    }
}

/// A connector whose established connections are counted.
#[derive(Debug, Clone)]
pub(super) struct Counted<S> {
    inner: S,
    opened: Arc<AtomicU64>,
}

type Boxed<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, R> tower_service::Service<R> for Counted<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    // Boxed: once per connection, never per request or chunk.
    type Future = Boxed<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let connecting = self.inner.call(req);
        let opened = Arc::clone(&self.opened);
        Box::pin(async move {
            let conn = connecting.await?;
            opened.fetch_add(1, Ordering::Relaxed);
            Ok(conn)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_counter_per_target_shared_by_every_client() {
        let c = Connections::default();
        let a = c.counter("a");
        a.fetch_add(2, Ordering::Relaxed);
        c.counter("a").fetch_add(1, Ordering::Relaxed);
        c.counter("b");
        assert_eq!(
            c.snapshot(),
            vec![("a".to_string(), 3), ("b".to_string(), 0)]
        );
    }
}
