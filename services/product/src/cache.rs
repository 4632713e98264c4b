//! Cache-aside on Redis for what shoppers read most: product details and the category list.
//!
//! Reads try Redis first and fill it on a miss; every committed write deletes the keys it made
//! stale. Redis is an optimisation, never a dependency: any Redis error (down, slow, full) is
//! logged and treated as a miss, so reads fall back to Postgres and still answer 200. Every
//! entry has a TTL, which also bounds how long a value can stay stale in the two cases deletion
//! cannot cover: Redis was down when a write tried to delete the key, or a read that loaded the
//! row just before a write committed stored it just after the write's delete.
//!
//! A product's cached detail includes its available stock, so reservations, releases, expiries
//! and stock edits delete it too (a commit does not: it leaves availability unchanged). That
//! keeps a cache hit free of any Postgres query, which is the point of the cache; the shop's
//! stock figure is advisory anyway, as the reservation is what decides.
//!
//! In front of Redis, each replica keeps the entries it read lately in its own memory
//! ([`local`]): a write deletes the Redis keys and publishes them on [`INVALIDATIONS`], and
//! every replica forgets them.

mod local;

use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::redis;
use kit::cache::{Connection, Pool, RedisConfig};
use kit::shutdown::Shutdown;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use self::local::Local;
use crate::metrics::{CacheReads, CacheResult};

/// The channel (relative to the prefix) on which writes publish the keys they made stale.
pub const INVALIDATIONS: &str = "invalidations";

/// The product service's cache: Redis with namespaced keys and a TTL, or nothing at all.
#[derive(Clone)]
pub struct Cache {
    inner: Option<Inner>,
    reads: CacheReads,
}

#[derive(Clone)]
struct Inner {
    pool: Pool,
    config: RedisConfig,
    ttl: Duration,
    local: Option<Arc<Local>>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("prefix", &self.inner.as_ref().map(|i| &i.config.prefix))
            .field("ttl", &self.inner.as_ref().map(|i| i.ttl))
            .field(
                "in_process",
                &self.inner.as_ref().map(|i| i.local.is_some()),
            )
            .finish()
    }
}

// The keys are public so that tests can look at what is cached without repeating the scheme.
// Each is relative to the configured prefix (`RedisConfig::key`).

/// The key of the cached category list.
pub const CATEGORIES: &str = "categories";

/// The key of one product's cached detail.
pub fn product_key(id: Uuid) -> String {
    format!("product:{id}")
}

/// The key mapping a product slug to its id.
pub fn slug_key(slug: &str) -> String {
    format!("product-slug:{slug}")
}

impl Cache {
    /// A cache on `pool` whose entries live `ttl`, in Redis only.
    pub fn new(pool: Pool, config: RedisConfig, ttl: Duration) -> Self {
        Self {
            inner: Some(Inner {
                pool,
                config,
                ttl,
                local: None,
            }),
            reads: CacheReads::default(),
        }
    }

    /// The same cache with up to `entries` of them also kept in this process (none for `0`),
    /// once [`Cache::follow_invalidations`] runs.
    pub fn in_process(mut self, entries: u64) -> Self {
        if let Some(inner) = &mut self.inner {
            inner.local = (entries > 0).then(|| Arc::new(Local::new(entries, inner.ttl)));
        }
        self
    }

    /// Hears the keys that writes on any replica made stale, until shutdown; the in-process
    /// tier is used only while this runs and is subscribed.
    pub async fn follow_invalidations(self, shutdown: Shutdown) {
        let Some(inner) = self.inner else {
            return;
        };
        let Some(local) = inner.local else {
            return;
        };
        kit::cache::follow(inner.config, INVALIDATIONS, shutdown, |feed| {
            local.hear(feed);
        })
        .await;
    }

    /// Whether reads are answered from this process's memory now (subscribed to the
    /// invalidations).
    pub fn serves_in_process(&self) -> bool {
        self.inner
            .as_ref()
            .and_then(|inner| inner.local.as_ref())
            .is_some_and(|local| local.is_live())
    }

    /// No cache: every read goes to Postgres.
    pub fn disabled() -> Self {
        Self {
            inner: None,
            reads: CacheReads::default(),
        }
    }

    /// The cached value of `key`, or `None` on a miss, a Redis failure or an entry that no
    /// longer parses (written by an older version).
    pub(crate) async fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let inner = self.inner.as_ref()?;
        let local = inner.local.as_deref();
        // Only entries that parsed go in, so this parses too (unless `T` is not what the key
        // holds, which is a miss then).
        if let Some(bytes) = local.and_then(|local| local.get(key))
            && let Ok(value) = serde_json::from_slice(&bytes)
        {
            self.reads.record(key, CacheResult::LocalHit);
            return Some(value);
        }
        let ticket = local.and_then(Local::ticket);
        let full_key = inner.config.key(key);
        let get = redis::pipe().cmd("GET").arg(&full_key).clone();
        let (result, value) = match inner.run::<(Option<Vec<u8>>,)>("GET", get).await {
            None => (CacheResult::Error, None),
            Some((None,)) => (CacheResult::Miss, None),
            Some((Some(bytes),)) => match serde_json::from_slice(&bytes) {
                Ok(value) => {
                    if let (Some(local), Some(ticket)) = (local, ticket) {
                        local.fill(ticket, key, bytes.into());
                    }
                    (CacheResult::Hit, Some(value))
                }
                Err(error) => {
                    tracing::warn!(key = %full_key, %error, "unreadable cache entry; treating it as a miss");
                    (CacheResult::Error, None)
                }
            },
        };
        self.reads.record(key, result);
        value
    }

    /// The Redis pool, when there is a cache.
    pub fn pool(&self) -> Option<&Pool> {
        self.inner.as_ref().map(|inner| &inner.pool)
    }

    /// The counters of its reads, for the service's metrics.
    pub(crate) fn reads(&self) -> CacheReads {
        self.reads.clone()
    }

    /// Stores `value` under `key` with the TTL.
    pub(crate) async fn put<T: Serialize>(&self, key: &str, value: &T) {
        let Some(inner) = self.inner.as_ref() else {
            return;
        };
        let Ok(bytes) = serde_json::to_vec(value) else {
            return;
        };
        let command = redis::pipe()
            .cmd("SET")
            .arg(inner.config.key(key))
            .arg(bytes)
            .arg("EX")
            .arg(inner.ttl.as_secs().max(1))
            .clone();
        inner.run::<()>("SET", command).await;
    }

    /// Deletes `keys` and tells every replica to forget them; called after every committed
    /// write that made them stale. One round trip: the delete and the publish are pipelined.
    pub(crate) async fn invalidate(&self, keys: &[String]) {
        let Some(inner) = self.inner.as_ref() else {
            return;
        };
        if keys.is_empty() {
            return;
        }
        let mut pipeline = redis::pipe();
        let delete = pipeline.cmd("DEL");
        for key in keys {
            delete.arg(inner.config.key(key));
        }
        let message = serde_json::to_vec(keys).expect("a list of strings serializes");
        pipeline
            .cmd("PUBLISH")
            .arg(inner.config.key(INVALIDATIONS))
            .arg(message);
        inner.run::<(i64, i64)>("DEL", pipeline).await;
        // After the delete, so that no read of this replica can fill in the old value again.
        if let Some(local) = &inner.local {
            local.forget(keys);
        }
    }

    /// Forgets the cached details of `products`.
    pub(crate) async fn invalidate_products(&self, products: impl IntoIterator<Item = Uuid>) {
        let keys: Vec<String> = products.into_iter().map(product_key).collect();
        self.invalidate(&keys).await;
    }

    /// The cached category list.
    pub(crate) async fn categories<T: DeserializeOwned>(&self) -> Option<T> {
        self.get(CATEGORIES).await
    }

    /// Caches the category list.
    pub(crate) async fn put_categories<T: Serialize>(&self, value: &T) {
        self.put(CATEGORIES, value).await;
    }

    /// Forgets the category list.
    pub(crate) async fn invalidate_categories(&self) {
        self.invalidate(&[CATEGORIES.to_owned()]).await;
    }
}

impl Inner {
    /// Runs `commands` (one round trip) within the Redis timeout; `None` (logged) when Redis
    /// failed. A connection whose command failed or timed out is dropped, not returned to the
    /// pool: the pool checks nothing when it hands one out (see `kit::cache`).
    async fn run<T: redis::FromRedisValue>(
        &self,
        name: &str,
        commands: redis::Pipeline,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + self.config.timeout;
        let error = match tokio::time::timeout_at(deadline, self.pool.get()).await {
            Err(_) => "timed out waiting for a connection".to_owned(),
            Ok(Err(error)) => error.to_string(),
            Ok(Ok(mut connection)) => {
                match tokio::time::timeout_at(deadline, commands.query_async::<T>(&mut *connection))
                    .await
                {
                    Ok(Ok(value)) => return Some(value),
                    Ok(Err(error)) => {
                        drop(Connection::take(connection));
                        error.to_string()
                    }
                    Err(_) => {
                        drop(Connection::take(connection));
                        "timed out".to_owned()
                    }
                }
            }
        };
        tracing::warn!(command = name, %error, "redis failed; falling back to postgres");
        None
    }
}
