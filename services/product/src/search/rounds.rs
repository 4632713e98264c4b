//! Reads shared by the requests that wait for them.
//!
//! A search is answered by one read of Postgres: its cached page's rows read again with the
//! search generation (`store::reread`), or the page computed. Shoppers repeat the same searches
//! at the same time (a category, the newest products), and each of those requests needs a read
//! that started after it arrived, so that it sees every write committed before, but not a read of
//! its own. Here a request that arrives while a read is under way waits for the next read, which
//! starts when that one ends, together with every other request that arrived meanwhile, and they
//! all take its result. One read then answers every request that arrived during the one before,
//! and each answer is as fresh as a read of its own would have been.
//!
//! Each read runs in a task of its own, so a request that goes away (its client hung up) does
//! not cancel the read that others wait for.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;
use tracing::Instrument;

/// The rounds of reads of one thing, each read's result being a `T`; clones share them.
pub(crate) struct Rounds<T> {
    gate: Arc<Mutex<Gate<T>>>,
}

/// A round: its result once its read ended.
type Round<T> = watch::Receiver<Option<T>>;

struct Gate<T> {
    /// The round whose read is under way: it may have started before a newcomer arrived.
    running: Option<Round<T>>,
    /// The round that starts when the running one ends; newcomers join it.
    next: Option<Round<T>>,
}

impl<T> Default for Rounds<T> {
    fn default() -> Self {
        Self {
            gate: Arc::new(Mutex::new(Gate {
                running: None,
                next: None,
            })),
        }
    }
}

impl<T> Clone for Rounds<T> {
    fn clone(&self) -> Self {
        Self {
            gate: Arc::clone(&self.gate),
        }
    }
}

impl<T> std::fmt::Debug for Rounds<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rounds").finish_non_exhaustive()
    }
}

impl<T: Clone + Send + Sync + 'static> Rounds<T> {
    /// The result of a read that started after this call. `read` is called only when no such
    /// read is planned yet, so a request that joins a planned read pays for nothing of its own;
    /// otherwise this waits for the planned one. `None` when the read ended
    /// without a result (its task panicked).
    pub(crate) async fn read<F, Fut>(&self, read: F) -> Option<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T> + Send + 'static,
    {
        let mut round = self.join(read);
        round
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|result| result.clone())
    }

    /// The round this caller waits for: the planned one, or one planned now, which starts at once
    /// or after the running one.
    fn join<F, Fut>(&self, read: F) -> Round<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T> + Send + 'static,
    {
        let mut gate = self.lock();
        if let Some(next) = &gate.next {
            return next.clone();
        }
        let (result, round) = watch::channel(None);
        let after = gate.running.clone();
        if after.is_some() {
            gate.next = Some(round.clone());
        } else {
            gate.running = Some(round.clone());
        }
        drop(gate);
        let read = read();
        let rounds = self.clone();
        let this = round.clone();
        tokio::spawn(
            async move {
                if let Some(mut before) = after {
                    // An error means the running round's task is gone: this one may start.
                    let _ = before.wait_for(Option::is_some).await;
                    let mut gate = rounds.lock();
                    if gate
                        .next
                        .as_ref()
                        .is_some_and(|next| next.same_channel(&this))
                    {
                        gate.running = gate.next.take();
                    }
                }
                let value = read.await;
                let mut gate = rounds.lock();
                if gate
                    .running
                    .as_ref()
                    .is_some_and(|running| running.same_channel(&this))
                {
                    gate.running = None;
                }
                drop(gate);
                result.send_replace(Some(value));
            }
            .in_current_span(),
        );
        round
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Gate<T>> {
        // Nothing panics while holding the lock, and the gate stays valid even if something did.
        self.gate.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    use super::*;

    /// A read that counts itself when it starts, then returns its number once `release` fires.
    fn counted(
        reads: &Arc<AtomicUsize>,
        release: oneshot::Receiver<()>,
    ) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = usize> + Send>> + Send + 'static
    {
        let reads = Arc::clone(reads);
        move || {
            Box::pin(async move {
                let number = reads.fetch_add(1, Ordering::SeqCst) + 1;
                let _ = release.await;
                number
            })
        }
    }

    /// A request for the thing, whose read (if it plans one) waits for `release`.
    fn request(
        rounds: &Rounds<usize>,
        reads: &Arc<AtomicUsize>,
        release: oneshot::Receiver<()>,
    ) -> JoinHandle<Option<usize>> {
        let rounds = rounds.clone();
        let read = counted(reads, release);
        tokio::spawn(async move { rounds.read(read).await })
    }

    fn release(read: oneshot::Sender<()>) {
        read.send(()).expect("the read waits for its release");
    }

    /// Lets the spawned tasks run until they wait.
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn requests_arriving_during_a_read_share_the_next_one() {
        let rounds = Rounds::<usize>::default();
        let reads = Arc::new(AtomicUsize::new(0));
        let (release_first, first) = oneshot::channel();
        let early = request(&rounds, &reads, first);
        settle().await;
        assert_eq!(reads.load(Ordering::SeqCst), 1, "the first read started");

        let (release_second, second) = oneshot::channel();
        let mut second = Some(second);
        let mut late = Vec::new();
        for _ in 0..3 {
            // Only the first of the late requests plans a read; the others must not be called.
            let release = second.take().unwrap_or_else(|| oneshot::channel().1);
            late.push(request(&rounds, &reads, release));
        }
        settle().await;
        assert_eq!(
            reads.load(Ordering::SeqCst),
            1,
            "the late requests wait for the first read to end before theirs starts"
        );

        release(release_first);
        assert_eq!(early.await.expect("the request ran"), Some(1));
        settle().await;
        assert_eq!(reads.load(Ordering::SeqCst), 2, "one read for the three");
        release(release_second);
        for request in late {
            assert_eq!(request.await.expect("the request ran"), Some(2));
        }

        // Nothing is under way any more: the next request reads at once.
        let (release_third, third) = oneshot::channel();
        let next = request(&rounds, &reads, third);
        settle().await;
        assert_eq!(reads.load(Ordering::SeqCst), 3);
        release(release_third);
        assert_eq!(next.await.expect("the request ran"), Some(3));
    }

    #[tokio::test]
    async fn a_request_that_goes_away_does_not_cancel_the_read_others_wait_for() {
        let rounds = Rounds::<usize>::default();
        let reads = Arc::new(AtomicUsize::new(0));
        let (release_first, first) = oneshot::channel();
        let gone = request(&rounds, &reads, first);
        settle().await;
        gone.abort();
        assert!(
            gone.await
                .expect_err("the request was aborted")
                .is_cancelled()
        );

        // Arrives during the first read, so it waits for a second one.
        let (release_second, second) = oneshot::channel();
        let waiting = request(&rounds, &reads, second);
        settle().await;
        release(release_first);
        settle().await;
        assert_eq!(
            reads.load(Ordering::SeqCst),
            2,
            "the first read ran to its end"
        );
        release(release_second);
        assert_eq!(waiting.await.expect("the request ran"), Some(2));
    }

    #[tokio::test]
    async fn a_read_that_panics_answers_none_and_the_next_one_runs() {
        let rounds = Rounds::<usize>::default();
        let panicked = rounds.read(|| async { panic!("the read failed") }).await;
        assert_eq!(panicked, None);
        assert_eq!(rounds.read(|| async { 7 }).await, Some(7));
    }
}
