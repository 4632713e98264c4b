//! Password hashing with argon2id, off the async executor and with bounded concurrency.
//!
//! Argon2 is deliberately slow and memory-hard, so each hash runs on a pool of its own with
//! `concurrency` threads (never stalling the request tasks), behind a semaphore, so a burst of
//! logins queues in order instead of thrashing. A fixed set of threads is what bounds memory at
//! `concurrency × memory cost`: glibc's allocator keeps a freed block of that size in the arena
//! of the thread that freed it, so hashes spread over tokio's blocking pool (up to hundreds of
//! threads, up to 8 arenas per core) left one such block behind per arena; ci/soak saw the
//! user service's RSS climb by 19 MiB steps under steady logins.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::config::PasswordConfig;

/// Hashes and verifies passwords with the configured argon2id parameters.
#[derive(Clone)]
pub(crate) struct Passwords {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    permits: Semaphore,
    /// The threads that hash, as many as there are permits.
    pool: rayon::ThreadPool,
    /// A hash of a random password made with the configured parameters. Logins for unknown
    /// emails are verified against it, so they take as long as logins with a wrong password and
    /// timing does not tell which emails have accounts.
    dummy_hash: String,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("params", &self.inner.params)
            .field("available_permits", &self.inner.permits.available_permits())
            .finish()
    }
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verified {
    /// The password is wrong, or there was no account to check it against.
    No,
    /// The password matches.
    Yes {
        /// The hash was made with other parameters than the configured ones and should be
        /// replaced by a fresh hash of the same password.
        needs_rehash: bool,
    },
}

impl Passwords {
    /// A hasher for `config`; makes the dummy hash, so it takes one hash's time.
    pub(crate) async fn new(config: &PasswordConfig) -> anyhow::Result<Self> {
        let params = config.params.clone();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.concurrency)
            .thread_name(|index| format!("argon2-{index}"))
            .build()?;
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let dummy_params = params.clone();
        let dummy_hash = run_on(&pool, move || {
            hash_with(&dummy_params, &random).map(|hash| hash.to_string())
        })
        .await?;
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                permits: Semaphore::new(config.concurrency),
                pool,
                dummy_hash,
            }),
        })
    }

    /// A PHC string (`$argon2id$v=19$m=…`) of `password` with a fresh random salt.
    /// Callers hash only passwords that passed [`Password::parse`](crate::domain::Password), or
    /// that already verified against the stored hash (a rehash).
    pub(crate) async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let secret = password.to_owned();
        let params = self.inner.params.clone();
        self.blocking(move || hash_with(&params, secret.as_bytes()).map(|h| h.to_string()))
            .await
    }

    /// Checks `password` against `stored`, or against the dummy hash when there is no account,
    /// which always answers [`Verified::No`] after the same amount of work.
    pub(crate) async fn verify(
        &self,
        password: &str,
        stored: Option<&str>,
    ) -> anyhow::Result<Verified> {
        let known = stored.is_some();
        let hash = stored.unwrap_or(&self.inner.dummy_hash).to_owned();
        let secret = password.to_owned();
        let params = self.inner.params.clone();
        let verified = self
            .blocking(move || {
                let parsed = PasswordHash::new(&hash)
                    .map_err(|e| anyhow::anyhow!("stored password hash is malformed: {e}"))?;
                let matches = Argon2::default()
                    .verify_password(secret.as_bytes(), &parsed)
                    .is_ok();
                let current = Params::try_from(&parsed).is_ok_and(|p| {
                    p.m_cost() == params.m_cost()
                        && p.t_cost() == params.t_cost()
                        && p.p_cost() == params.p_cost()
                }) && parsed.algorithm.as_str() == "argon2id";
                Ok::<_, anyhow::Error>((matches, current))
            })
            .await?;
        Ok(match verified {
            (true, current) if known => Verified::Yes {
                needs_rehash: !current,
            },
            _ => Verified::No,
        })
    }

    /// Runs `work` on the hashing pool once a permit is free (so a thread is free too).
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let _permit = self.inner.permits.acquire().await?;
        run_on(&self.inner.pool, work).await
    }
}

/// Runs `work` on `pool` and waits for its answer without blocking the executor.
async fn run_on<T: Send + 'static>(
    pool: &rayon::ThreadPool,
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    pool.spawn(move || {
        // The caller may have gone (a client that hung up); its answer is then not wanted.
        let _ = answer.send(work());
    });
    answered
        .await
        .map_err(|_| anyhow::anyhow!("the hashing thread panicked"))?
}

fn hash_with(params: &Params, password: &[u8]) -> anyhow::Result<PasswordHash> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password)
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(memory: u32) -> PasswordConfig {
        PasswordConfig {
            params: Params::new(memory, 1, 1, None).expect("params"),
            concurrency: 2,
        }
    }

    #[tokio::test]
    async fn hashes_verify_only_their_password() {
        let passwords = Passwords::new(&config(1024)).await.expect("hasher");
        let hash = passwords.hash("correct horse battery").await.expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{hash}");
        assert_eq!(
            passwords
                .verify("correct horse battery", Some(&hash))
                .await
                .expect("verify"),
            Verified::Yes {
                needs_rehash: false
            }
        );
        assert_eq!(
            passwords
                .verify("wrong horse battery", Some(&hash))
                .await
                .expect("verify"),
            Verified::No
        );
    }

    #[tokio::test]
    async fn hashes_run_on_the_pools_threads_only() {
        let passwords = Passwords::new(&config(1024)).await.expect("hasher");
        let names =
            futures::future::try_join_all((0..8).map(|_| {
                passwords.blocking(|| Ok(std::thread::current().name().map(str::to_owned)))
            }))
            .await
            .expect("ran");
        let names: std::collections::BTreeSet<_> = names.into_iter().flatten().collect();
        assert!(!names.is_empty());
        assert!(
            names
                .iter()
                .all(|name| name == "argon2-0" || name == "argon2-1"),
            "{names:?}"
        );
    }

    #[tokio::test]
    async fn salts_differ_so_equal_passwords_hash_differently() {
        let passwords = Passwords::new(&config(1024)).await.expect("hasher");
        let a = passwords.hash("same password").await.expect("hash");
        let b = passwords.hash("same password").await.expect("hash");
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn no_account_never_verifies() {
        let passwords = Passwords::new(&config(1024)).await.expect("hasher");
        assert_eq!(
            passwords.verify("", None).await.expect("verify"),
            Verified::No
        );
        assert_eq!(
            passwords
                .verify("anything at all", None)
                .await
                .expect("verify"),
            Verified::No
        );
    }

    #[tokio::test]
    async fn hashes_made_with_other_parameters_verify_and_ask_for_a_rehash() {
        let old = Passwords::new(&config(1024)).await.expect("hasher");
        let hash = old.hash("upgrade me please").await.expect("hash");
        let current = Passwords::new(&config(2048)).await.expect("hasher");
        assert_eq!(
            current
                .verify("upgrade me please", Some(&hash))
                .await
                .expect("verify"),
            Verified::Yes { needs_rehash: true }
        );
    }

    #[tokio::test]
    async fn a_corrupt_stored_hash_is_an_error_not_a_match() {
        let passwords = Passwords::new(&config(1024)).await.expect("hasher");
        assert!(
            passwords
                .verify("whatever it is", Some("not-a-phc-string"))
                .await
                .is_err()
        );
    }
}
