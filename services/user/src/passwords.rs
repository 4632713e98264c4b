//! Password hashing with argon2id, off the async executor and with bounded concurrency.
//!
//! Argon2 is deliberately slow and memory-hard, so each hash runs on a pool of its own with
//! `concurrency` threads (never stalling the request tasks), behind a semaphore, so a burst of
//! logins queues in order instead of thrashing.
//!
//! Each of those threads keeps one argon2 working memory (`ARGON2_MEMORY_KIB`, 19 MiB by
//! default), made on its first hash and reused by every later one, which bounds the hashing
//! memory at `concurrency × memory cost` whatever the allocator does. Argon2's own API allocates
//! and frees that memory on every hash instead, and glibc keeps what was freed in its arenas
//! rather than returning it: with that, 32 clients logging in for a minute took the service to
//! 342 MiB, against 57 MiB with the kept memory (docs/performance.md, section 5).

use std::cell::RefCell;
use std::sync::Arc;

use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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
        // With argon2's own memory, returned when it is done, not with a pool thread's kept
        // memory: a service that has not hashed anything yet stays small.
        let dummy_hash = run_on(&pool, move || {
            Argon2::new(Algorithm::Argon2id, Version::V0x13, dummy_params)
                .hash_password(&random)
                .map(|hash| hash.to_string())
                .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
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
        self.blocking(move || hash_with(&params, secret.as_bytes()))
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
                let matches = matches(&params, secret.as_bytes(), &parsed);
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

/// A PHC string of `password` hashed with `params` and a fresh random salt, as argon2's
/// `hash_password` makes it, in the calling thread's kept memory.
fn hash_with(params: &Params, password: &[u8]) -> anyhow::Result<String> {
    let salt = Salt::generate();
    let mut output = [0u8; Output::MAX_LENGTH];
    let output = output
        .get_mut(..params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN))
        .ok_or_else(|| anyhow::anyhow!("the configured output length is too long"))?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    with_memory(params, &argon2, |memory| {
        argon2.hash_password_into_with_memory(password, &salt, &mut *output, memory)
    })
    .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params)?,
        salt: Some(salt),
        hash: Some(Output::new(output)?),
    };
    Ok(hash.to_string())
}

/// Whether `password` hashes to `stored` with the algorithm, version, parameters and salt
/// written in it, as argon2's `verify_password` decides, but in the calling thread's kept memory;
/// a hash argon2 cannot recompute (an unknown algorithm, parameters out of range) matches nothing.
fn matches(configured: &Params, password: &[u8], stored: &PasswordHash) -> bool {
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(stored.algorithm.as_str()) else {
        return false;
    };
    let Ok(version) = stored
        .version
        .map_or(Ok(Version::default()), Version::try_from)
    else {
        return false;
    };
    let Ok(params) = Params::try_from(stored) else {
        return false;
    };
    let mut output = [0u8; Output::MAX_LENGTH];
    let Some(output) = output.get_mut(..expected.len()) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params);
    with_memory(configured, &argon2, |memory| {
        argon2.hash_password_into_with_memory(password, salt, &mut *output, memory)
    })
    .is_ok()
        // `Output`'s equality takes the same time wherever the outputs differ.
        && Output::new(output).is_ok_and(|output| output == *expected)
}

thread_local! {
    /// A hashing thread's argon2 working memory, kept from one hash to the next.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs `work` with memory for `argon2`'s parameters: the calling thread's kept memory, made the
/// size the `configured` parameters need on first use, or, for a stored hash that needs more (made
/// with a larger memory cost, and rehashed when it verifies), memory of its own for this once.
fn with_memory<T>(
    configured: &Params,
    argon2: &Argon2<'_>,
    work: impl FnOnce(&mut [Block]) -> T,
) -> T {
    let needed = argon2.params().block_count();
    let kept = configured.block_count();
    if needed > kept {
        return work(&mut vec![Block::new(); needed]);
    }
    MEMORY.with_borrow_mut(|memory| {
        if memory.len() < kept {
            *memory = vec![Block::new(); kept];
        }
        work(&mut memory[..needed])
    })
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::PasswordVerifier;

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
    async fn hashes_that_need_more_memory_than_configured_verify_and_ask_for_a_rehash() {
        let old = Passwords::new(&config(2048)).await.expect("hasher");
        let hash = old.hash("downsize me please").await.expect("hash");
        let current = Passwords::new(&config(1024)).await.expect("hasher");
        assert_eq!(
            current
                .verify("downsize me please", Some(&hash))
                .await
                .expect("verify"),
            Verified::Yes { needs_rehash: true }
        );
        assert_eq!(
            current
                .verify("downsize me, please", Some(&hash))
                .await
                .expect("verify"),
            Verified::No
        );
    }

    /// One hashing thread, so every hash of the test runs in the same kept memory.
    async fn one_thread(memory: u32) -> Passwords {
        Passwords::new(&PasswordConfig {
            params: Params::new(memory, 2, 1, None).expect("params"),
            concurrency: 1,
        })
        .await
        .expect("hasher")
    }

    #[tokio::test]
    async fn reference_hashes_verify_in_memory_that_other_hashes_used_before() {
        // The reference implementation's argon2id test vectors (password "password", salt
        // "somesalt"), with one lane and with two.
        const REFERENCE: [&str; 2] = [
            "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
            "$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc",
        ];
        let passwords = one_thread(1024).await;
        passwords.hash("fills the kept memory").await.expect("hash");
        for hash in REFERENCE {
            assert_eq!(
                passwords
                    .verify("password", Some(hash))
                    .await
                    .expect("verify"),
                Verified::Yes { needs_rehash: true },
                "{hash}"
            );
            assert_eq!(
                passwords
                    .verify("passwore", Some(hash))
                    .await
                    .expect("verify"),
                Verified::No,
                "{hash}"
            );
        }
    }

    #[tokio::test]
    async fn hashes_made_here_and_by_argon2_itself_verify_with_each_other() {
        let passwords = one_thread(1024).await;
        let params = Params::new(1024, 2, 1, None).expect("params");
        for round in 0..3 {
            let ours = passwords
                .hash(&format!("made here {round}"))
                .await
                .expect("hash");
            let parsed = PasswordHash::new(&ours).expect("a PHC string");
            assert!(
                Argon2::default()
                    .verify_password(format!("made here {round}").as_bytes(), &parsed)
                    .is_ok(),
                "{ours}"
            );
            let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
                .hash_password(format!("made by argon2 {round}").as_bytes())
                .expect("hash")
                .to_string();
            assert_eq!(
                passwords
                    .verify(&format!("made by argon2 {round}"), Some(&theirs))
                    .await
                    .expect("verify"),
                Verified::Yes {
                    needs_rehash: false
                },
                "{theirs}"
            );
        }
    }

    #[tokio::test]
    async fn the_kept_memory_stays_the_configured_size() {
        let larger = one_thread(2048).await;
        let hash = larger.hash("a larger hash").await.expect("hash");
        let passwords = one_thread(1024).await;
        passwords.hash("the first hash").await.expect("hash");
        passwords
            .verify("a larger hash", Some(&hash))
            .await
            .expect("verify");
        let kept = passwords
            .blocking(|| Ok(MEMORY.with_borrow(Vec::len)))
            .await
            .expect("ran");
        assert_eq!(
            kept,
            Params::new(1024, 2, 1, None).expect("params").block_count()
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
