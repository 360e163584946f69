//! What the server holds: the bundle being served (swapped whole on reload, so that requests
//! in flight finish on the one they started with), its encoder queue, metrics, and the admin
//! token.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use affinity_core::InvalidSetting;
use affinity_recommend::bundle::BundleLoadOptions;
use affinity_recommend::pipeline::Recommender;

use crate::batch::Batcher;
use crate::error::{Result, ServeError};
use crate::metrics::{BundleFigures, Metrics};

/// How `affinity serve` runs.
#[derive(Debug, Clone)]
pub struct ServeParams {
    /// The bundle served at start (and reloaded when a reload names none).
    pub bundle: PathBuf,
    /// Where to listen (loopback by default; port 0 picks a free one).
    pub addr: std::net::SocketAddr,
    /// Async worker threads for HTTP.
    pub workers: usize,
    /// The admin token; without one the admin routes answer 403.
    pub admin_token: Option<String>,
    /// Reloads may name a bundle directory directly under this one (nothing else).
    pub reload_root: Option<PathBuf>,
    /// Largest request body, in bytes (larger: 413).
    pub body_limit: usize,
    /// Longest a request may take, body included (then 408).
    pub request_timeout: Duration,
    /// Longest a client may take to send its request headers.
    pub header_timeout: Duration,
    /// Longest the encoder waits for more histories to batch with the first.
    pub batch_wait: Duration,
    /// Most histories encoded in one pass.
    pub max_batch: usize,
    /// How bundles are loaded (device, precision).
    pub load: BundleLoadOptions,
    /// How long shutdown waits for requests in flight.
    pub drain: Duration,
    /// Whether the explorer page (`/`) and its routes (`/v1/explore/...`) are served.
    pub explorer: bool,
}

impl ServeParams {
    /// The defaults for serving `bundle` on 127.0.0.1:8080.
    pub fn new(bundle: impl Into<PathBuf>) -> Self {
        ServeParams {
            bundle: bundle.into(),
            addr: ([127, 0, 0, 1], 8080).into(),
            workers: 2,
            admin_token: None,
            reload_root: None,
            body_limit: 1 << 20,
            request_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(5),
            batch_wait: Duration::from_millis(1),
            max_batch: 64,
            load: BundleLoadOptions::default(),
            drain: Duration::from_secs(10),
            explorer: true,
        }
    }

    /// Fails on settings that cannot work, before anything is loaded.
    pub fn check(&self) -> std::result::Result<(), InvalidSetting> {
        let at_least_one = [
            ("workers", self.workers),
            ("max_batch", self.max_batch),
            ("body_limit", self.body_limit),
        ];
        if let Some((name, _)) = at_least_one.iter().find(|(_, v)| *v == 0) {
            return Err(InvalidSetting::new(name, "must be at least 1"));
        }
        // Bounds a machine can honour: beyond them the runtime fails to spawn its threads
        // or a batch holds more than memory, an abort rather than an error.
        let at_most = [
            ("workers", self.workers, MAX_WORKERS),
            ("max_batch", self.max_batch, MAX_BATCH),
            ("body_limit", self.body_limit, MAX_BODY),
        ];
        if let Some((name, value, max)) = at_most.iter().find(|(_, v, max)| v > max) {
            return Err(InvalidSetting::new(
                name,
                format!("{value} is more than {max}, the most this server allows"),
            ));
        }
        if self.request_timeout.is_zero() || self.header_timeout.is_zero() {
            return Err(InvalidSetting::new("timeouts", "must be positive"));
        }
        if self.admin_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(InvalidSetting::new(
                "admin_token",
                "needs at least 16 characters",
            ));
        }
        if let Some(root) = self.reload_root.as_ref().filter(|r| !r.is_dir()) {
            return Err(InvalidSetting::new(
                "reload_root",
                format!("{} is not a directory", root.display()),
            ));
        }
        Ok(())
    }
}

/// The most async worker threads (`--workers`).
pub const MAX_WORKERS: usize = 1024;
/// The most requests batched together (`--max-batch`).
pub const MAX_BATCH: usize = 65_536;
/// The largest request body (`--body-limit`): 1 GiB.
pub const MAX_BODY: usize = 1 << 30;

/// A history's vector, computed with the histories of concurrent requests.
pub type Encoder = Batcher<Vec<u32>, Vec<f32>>;
/// A vector's similarity to every item, computed with the vectors of concurrent requests.
pub type Similarities = Batcher<Vec<f32>, Vec<f32>>;

/// One loaded bundle and its batch queues.
pub struct Serving {
    /// The recommender.
    pub recommender: Arc<Recommender>,
    /// Its encoder queue.
    pub encoder: Encoder,
    /// Its similarity queue.
    pub similarities: Similarities,
    /// Its figures.
    pub figures: BundleFigures,
    /// Where it was loaded from.
    pub dir: PathBuf,
    /// The explorer's index of it, built on first use.
    pub(crate) explorer: std::sync::OnceLock<crate::explore::Explorer>,
}

/// The server's shared state.
pub struct AppState {
    /// The settings.
    pub params: ServeParams,
    current: RwLock<Arc<Serving>>,
    generation: AtomicU64,
    /// Request metrics.
    pub metrics: Metrics,
    /// One update from posted events at a time.
    pub update_lock: tokio::sync::Mutex<()>,
    /// The last update's outcome, for `/v1/admin/status`.
    pub last_update: Mutex<Option<serde_json::Value>>,
    admin: Option<blake3::Hash>,
}

impl AppState {
    /// Loads the configured bundle (blocking: call before serving or from a blocking task).
    pub fn new(params: ServeParams) -> Result<Self> {
        params.check()?;
        let generation = AtomicU64::new(0);
        let first = load(&params, &params.bundle, &generation)?;
        Ok(AppState {
            admin: params
                .admin_token
                .as_deref()
                .map(|t| blake3::hash(t.as_bytes())),
            current: RwLock::new(Arc::new(first)),
            generation,
            metrics: Metrics::default(),
            update_lock: tokio::sync::Mutex::new(()),
            last_update: Mutex::new(None),
            params,
        })
    }

    /// The bundle being served now (requests keep it until they finish).
    pub fn current(&self) -> Arc<Serving> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Loads the bundle in `dir` (blocking), ready to swap in.
    pub fn load(&self, dir: &Path) -> Result<Serving> {
        load(&self.params, dir, &self.generation)
    }

    /// Serves `next` from now on. The bundle it replaces is freed when its last request ends;
    /// a moment later the allocator is asked to give the freed memory back (see
    /// [`release_freed_memory`]).
    pub fn swap(&self, next: Serving) {
        self.swap_if(None, next);
    }

    /// Serves `next` only if the bundle served now is still generation `expected`, and says
    /// whether it did: work that started from one bundle (an update from posted events) must
    /// not undo a reload that came while it ran.
    pub fn swap_if_current(&self, expected: u64, next: Serving) -> bool {
        self.swap_if(Some(expected), next)
    }

    fn swap_if(&self, expected: Option<u64>, next: Serving) -> bool {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if expected.is_some_and(|g| current.figures.generation != g) {
            return false;
        }
        let old = std::mem::replace(&mut *current, Arc::new(next));
        drop(current);
        drop(old);
        std::thread::spawn(|| {
            std::thread::sleep(Duration::from_secs(1));
            release_freed_memory();
        });
        true
    }

    /// Whether `presented` is the admin token (compared through BLAKE3 digests, whose
    /// equality is constant-time, so neither length nor content leaks through timing).
    pub fn is_admin(&self, presented: Option<&str>) -> bool {
        match (&self.admin, presented) {
            (Some(expected), Some(p)) => blake3::hash(p.as_bytes()) == *expected,
            _ => false,
        }
    }

    /// The directory a reload names: none, the current bundle's; a name, that directory
    /// directly under the reload root (no other path is ever opened).
    pub fn reload_target(&self, name: Option<&str>) -> Result<PathBuf, String> {
        let Some(name) = name else {
            return Ok(self.current().dir.clone());
        };
        let Some(root) = &self.params.reload_root else {
            return Err("this server reloads only its own bundle (no --reload-root)".into());
        };
        let plain =
            !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0']);
        if !plain {
            return Err(format!(
                "{name:?} is not a bundle name under the reload root"
            ));
        }
        let root = root
            .canonicalize()
            .map_err(|e| format!("the reload root: {e}"))?;
        let dir = root
            .join(name)
            .canonicalize()
            .map_err(|_| format!("no bundle {name:?} under the reload root"))?;
        if dir.parent() != Some(root.as_path()) {
            return Err(format!("{name:?} leads outside the reload root"));
        }
        Ok(dir)
    }
}

/// Returns memory the allocator holds free to the system. A replaced bundle (hundreds of MB of
/// tensors freed while requests allocate on other threads) otherwise stays in glibc's arenas,
/// and a server that reloads every few seconds grows without bound. (With the `jemalloc`
/// feature glibc's heap is unused: jemalloc purges on its own background thread.)
#[allow(unsafe_code)]
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu", not(feature = "jemalloc")))]
    // SAFETY: malloc_trim only releases free memory; it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Allocator settings for a long-running server, to call before its threads start: at most two
/// malloc arenas. glibc otherwise gives the tokio workers, the blocking pool and each bundle's
/// encoder thread arenas of their own, and memory freed in one is never reused by the others.
/// Measured on the Scientific bundle under mixed traffic with a reload every 10 s: RSS grew from
/// 391 to 552 MB in 4 minutes by default, from 362 to 404 MB with two arenas, at no cost in
/// throughput (docs/benchmarks.md). (Mapping large blocks on their own, M_MMAP_THRESHOLD,
/// helped no more and made encoding ten times slower: every activation became fresh pages.)
/// `MALLOC_ARENA_MAX` in the environment wins. Nothing to do with the `jemalloc` feature, whose
/// settings are the binary's `malloc_conf`.
///
/// With either allocator: MKL's own buffer cache is turned off (`MKL_DISABLE_FAST_MM=1`, unless
/// the environment sets it), so the matrix products' work buffers go through malloc and are
/// returned. That cache (libtorch's MKL keeps one per thread, and a server starts a new encoder
/// thread with every bundle it loads) is what made RSS climb under traffic with reloads:
/// measured side by side with jemalloc, mixed traffic and a reload every 2 s for 4 minutes,
/// 344 -> 385 MB with it (363 MB once quiet) and 299 -> 300 MB without (279 MB once quiet), at
/// the same requests/s (204 and 202).
#[allow(unsafe_code)]
pub fn tune_allocator() {
    if std::env::var_os("MKL_DISABLE_FAST_MM").is_none() {
        // Read by MKL when it first allocates, which is after this (no bundle is loaded yet),
        // and no other thread reads the environment yet.
        std::env::set_var("MKL_DISABLE_FAST_MM", "1");
    }
    #[cfg(all(target_os = "linux", target_env = "gnu", not(feature = "jemalloc")))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes allocator parameters; called before other threads.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, 2) };
    }
}

fn load(params: &ServeParams, dir: &Path, generation: &AtomicU64) -> Result<Serving> {
    let unloadable = |source| ServeError::Bundle {
        path: dir.to_path_buf(),
        source: Box::new(source),
    };
    let recommender = Arc::new(Recommender::load(dir, &params.load).map_err(unloadable)?);
    let manifest = affinity_recommend::bundle::read_manifest(dir).map_err(unloadable)?;
    let fitted = recommender.fitted();
    let figures = BundleFigures {
        path: dir.display().to_string(),
        created: manifest.created,
        format_version: manifest.format_version,
        generation: generation.fetch_add(1, Ordering::SeqCst) + 1,
        items: fitted.n_items(),
        users: fitted.n_users(),
        rules: fitted.rules.len(),
    };
    let rec = recommender.clone();
    let encoder = Batcher::start(
        "affinity-encoder",
        params.batch_wait,
        params.max_batch,
        move |histories: Vec<Vec<u32>>| {
            let vectors = rec.history_vectors(&histories).map_err(|e| e.to_string())?;
            Ok(vectors.rows().into_iter().map(|r| r.to_vec()).collect())
        },
    );
    let rec = recommender.clone();
    // No wait: under load, requests queue while the previous product runs, and that is the
    // batch; alone, a request is not held back.
    let similarities = Batcher::start(
        "affinity-similarities",
        Duration::ZERO,
        params.max_batch,
        move |vectors: Vec<Vec<f32>>| {
            let width = vectors.first().map_or(0, Vec::len);
            let flat: Vec<f32> = vectors.concat();
            let matrix = ndarray::Array2::from_shape_vec((vectors.len(), width), flat)
                .map_err(|_| "history vectors of different widths".to_string())?;
            let sims = rec.similarities(matrix.view()).map_err(|e| e.to_string())?;
            Ok(sims.rows().into_iter().map(|r| r.to_vec()).collect())
        },
    );
    Ok(Serving {
        encoder,
        similarities,
        recommender,
        figures,
        dir: dir.to_path_buf(),
        explorer: std::sync::OnceLock::new(),
    })
}
