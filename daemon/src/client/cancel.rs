//! Waiting for a request's cancellation without a lock on every poll. A request's task is polled
//! once per chunk read, and `tokio_util`'s `cancelled()` future locks the token's node (and its
//! `Notify`) on each poll — about 5 % of the client's CPU at 51,200 chunks/s. [`Cancelled`] polls
//! the token only when the token woke the task (or on the first poll, or when the task's waker
//! changed): between, a poll costs one atomic load and a pointer comparison.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// What the token's wake-up reaches: a flag that it came, and the task to wake.
struct Signal {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // The flag first: the task, once woken, must see it.
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// Resolves when `token` is cancelled (see the module's doc for what a poll costs).
pub(super) struct Cancelled {
    wait: Pin<Box<WaitForCancellationFutureOwned>>,
    signal: Arc<Signal>,
    /// Wakes `signal`: the waker the token's future is polled with.
    waker: Waker,
    /// The task's waker last handed to `signal`.
    registered: Option<Waker>,
}

/// A future that resolves when `token` is cancelled.
pub(super) fn cancelled(token: &CancellationToken) -> Cancelled {
    let signal = Arc::new(Signal {
        woken: AtomicBool::new(false),
        task: AtomicWaker::new(),
    });
    Cancelled {
        wait: Box::pin(token.clone().cancelled_owned()),
        waker: Waker::from(Arc::clone(&signal)),
        signal,
        registered: None,
    }
}

impl Future for Cancelled {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let stale = !this
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()));
        if stale {
            // A new task waker (the first poll, or the future moved): kept, and handed over
            // below with a look at the token.
            this.registered = Some(cx.waker().clone());
        } else if !this.signal.woken.load(Ordering::Acquire) {
            return Poll::Pending;
        }
        this.signal.woken.store(false, Ordering::Relaxed);
        // Handed over before looking (a wake-up also takes the task's waker out of `signal`), so
        // a wake-up after the look finds it.
        this.signal.task.register(cx.waker());
        this.wait
            .as_mut()
            .poll(&mut Context::from_waker(&this.waker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A task waker that counts its wake-ups.
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn resolves_on_cancel_and_wakes_the_task_once() {
        let token = CancellationToken::new();
        let child = token.child_token();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        let mut f = cancelled(&child);
        assert!(Pin::new(&mut f).poll(&mut cx).is_pending());
        // Polled again without a wake-up (another branch's chunk): still pending, and the
        // token is not looked at.
        assert!(Pin::new(&mut f).poll(&mut cx).is_pending());
        assert!(!f.signal.woken.load(Ordering::SeqCst));
        token.cancel();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(Pin::new(&mut f).poll(&mut cx).is_ready());
    }

    #[test]
    fn an_already_cancelled_token_resolves_on_the_first_poll() {
        let token = CancellationToken::new();
        token.cancel();
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        let mut f = cancelled(&token);
        assert!(
            Pin::new(&mut f)
                .poll(&mut Context::from_waker(&waker))
                .is_ready()
        );
    }

    #[test]
    fn a_new_task_waker_is_the_one_woken() {
        let token = CancellationToken::new();
        let (a, b) = (
            Arc::new(Count(AtomicUsize::new(0))),
            Arc::new(Count(AtomicUsize::new(0))),
        );
        let (wa, wb) = (Waker::from(Arc::clone(&a)), Waker::from(Arc::clone(&b)));
        let mut f = cancelled(&token);
        assert!(
            Pin::new(&mut f)
                .poll(&mut Context::from_waker(&wa))
                .is_pending()
        );
        assert!(
            Pin::new(&mut f)
                .poll(&mut Context::from_waker(&wb))
                .is_pending()
        );
        token.cancel();
        assert_eq!(
            (a.0.load(Ordering::SeqCst), b.0.load(Ordering::SeqCst)),
            (0, 1)
        );
        assert!(
            Pin::new(&mut f)
                .poll(&mut Context::from_waker(&wb))
                .is_ready()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_waiting_when_its_cancel_comes_ends_cancelled() {
        // The shape of `Client::send`: the cancel polled first, a stream that never ends.
        let token = CancellationToken::new();
        let child = token.child_token();
        let request = async move {
            tokio::select! {
                biased;
                () = cancelled(&child) => "cancelled",
                () = std::future::pending::<()>() => "ended",
            }
        };
        tokio::pin!(request);
        // Polled once — waiting, with its waker handed to the token — before the cancel comes,
        // from another task, a virtual second later: only the token's wake-up polls it again.
        let first = std::future::poll_fn(|cx| Poll::Ready(request.as_mut().poll(cx))).await;
        assert!(first.is_pending());
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            token.cancel();
        });
        // Paused time: a wake-up that never arrives ends the wait at once, as a failure (the
        // deadline first: `timeout` would poll the request once more and hide a lost wake-up).
        let ended = tokio::select! {
            biased;
            () = tokio::time::sleep(std::time::Duration::from_secs(60)) => None,
            r = &mut request => Some(r),
        };
        assert_eq!(ended, Some("cancelled"));
    }
}
