//! Exact top-k over an item matrix: one query at a time or in blocked batches.

use affinity_core::InvalidSetting;
use ndarray::{s, Array2, ArrayView1, ArrayView2, Axis};
use rayon::prelude::*;
use std::ops::Range;
use std::sync::OnceLock;

use crate::coded::Codes;
use crate::error::{RankError, Result};
use crate::kernel::dot;
use crate::topk::{Scored, TopK};

/// How a query and an item are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Metric {
    /// Dot product of the vectors as given.
    InnerProduct,
    /// Cosine: vectors are L2-normalised when the index is built and queries when they arrive
    /// (a zero vector scores 0 with everything; rows already of unit norm within 1e-6 are kept
    /// as they are, so rebuilding an index from its vectors changes nothing).
    #[default]
    Cosine,
}

/// Queries per block in batch search and items per block: 512 x 2048 f32 scores (4 MiB) keep
/// the matrix product efficient and the selection pass in cache.
const QUERY_BLOCK: usize = 512;
const ITEM_BLOCK: usize = 2048;
/// The integer first pass (see `coded.rs`) needs codes of the items, made once per index: the
/// first batch of `CODED_FIRST_BATCH` queries or more makes them (they cost about what scoring
/// 400 queries does, so smaller first batches would be slower for an index built per call),
/// and from then on batches of `CODED_MIN_QUERIES` or more (fewer cannot fill its tiles) with
/// lists up to `CODED_MAX_K` long (longer lists make more candidates) use them.
const CODED_FIRST_BATCH: usize = 1024;
const CODED_MIN_QUERIES: usize = 16;
const CODED_MAX_K: usize = 256;
/// Scores checked against the threshold at once (a vectorised compare before any branch).
const LANES: usize = 32;

/// An item matrix ready for exact search.
///
/// ```
/// use affinity_rank::{ItemIndex, Metric};
/// use ndarray::array;
/// let index = ItemIndex::new(array![[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]], Metric::Cosine)?;
/// let top = index.search(array![1.0, 0.1].view(), 2, &[0])?; // item 0 already bought
/// assert_eq!(top[0].item, 2);
/// assert_eq!(top[1].item, 1);
/// # Ok::<(), affinity_rank::RankError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ItemIndex {
    vectors: Array2<f32>,
    metric: Metric,
    threads: usize,
    /// Integer codes of the vectors for batch search, made at the first batch that uses them
    /// (`None` where the vectors cannot be coded).
    codes: OnceLock<Option<Codes>>,
}

impl ItemIndex {
    /// Builds the index; every value must be finite.
    pub fn new(mut vectors: Array2<f32>, metric: Metric) -> Result<Self> {
        check_finite(vectors.view(), "item vector")?;
        if metric == Metric::Cosine {
            for mut row in vectors.rows_mut() {
                let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
                // Rows already of unit norm (to f32 rounding) stay bit for bit, so an index
                // rebuilt from its own vectors (a saved bundle) is the same index.
                if norm > 0.0 && (norm - 1.0).abs() > 1e-6 {
                    row.mapv_inplace(|x| x / norm);
                }
            }
        }
        if !vectors.is_standard_layout() {
            vectors = vectors.as_standard_layout().into_owned();
        }
        Ok(ItemIndex {
            vectors,
            metric,
            threads: 0,
            codes: OnceLock::new(),
        })
    }

    /// Threads for batch search (0: all cores).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Items in the index.
    pub fn len(&self) -> usize {
        self.vectors.nrows()
    }

    /// Whether the index holds no item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Width of the vectors.
    pub fn dim(&self) -> usize {
        self.vectors.ncols()
    }

    /// The metric.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// The stored (for cosine: normalised) vector of `item`.
    pub fn vector(&self, item: u32) -> Result<ArrayView1<'_, f32>> {
        self.check_item(item)?;
        Ok(self.vectors.row(item as usize))
    }

    /// The stored vectors.
    pub fn vectors(&self) -> ArrayView2<'_, f32> {
        self.vectors.view()
    }

    /// The inner product of each query (one per row, used as given: not normalised) with
    /// every stored vector, `[queries, items]`. Each item is read once for all the queries,
    /// and a query's figures are the same alone or in any batch.
    ///
    /// ```
    /// use affinity_rank::{ItemIndex, Metric};
    /// use ndarray::array;
    ///
    /// let index = ItemIndex::new(array![[1.0, 0.0], [0.0, 2.0]], Metric::InnerProduct)?;
    /// let sims = index.similarities(array![[1.0, 1.0], [3.0, 0.0]].view())?;
    /// assert_eq!(sims, array![[1.0, 2.0], [3.0, 0.0]]);
    /// # Ok::<(), affinity_rank::RankError>(())
    /// ```
    pub fn similarities(&self, queries: ArrayView2<f32>) -> Result<Array2<f32>> {
        if queries.ncols() != self.dim() {
            return Err(RankError::DimensionMismatch {
                what: "queries",
                expected: self.dim(),
                found: queries.ncols(),
            });
        }
        let queries = queries.as_standard_layout();
        let mut out = Array2::zeros((queries.nrows(), self.len()));
        crate::kernel::dot_all(queries.view(), self.vectors.view(), out.view_mut());
        Ok(out)
    }

    fn check_item(&self, item: u32) -> Result<()> {
        if item as usize >= self.len() {
            return Err(RankError::ItemOutOfRange {
                item,
                len: self.len(),
            });
        }
        Ok(())
    }

    fn prepare_query(&self, query: ArrayView1<f32>, row: usize) -> Result<Vec<f32>> {
        if query.len() != self.dim() {
            return Err(RankError::DimensionMismatch {
                what: "query",
                expected: self.dim(),
                found: query.len(),
            });
        }
        let mut q: Vec<f32> = query.iter().copied().collect();
        if q.iter().any(|x| !x.is_finite()) {
            return Err(RankError::NonFinite { what: "query", row });
        }
        if self.metric == Metric::Cosine {
            let norm = q.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                q.iter_mut().for_each(|x| *x /= norm);
            }
        }
        Ok(q)
    }

    /// The score of every item for one query (for blending with other sources).
    pub fn scores(&self, query: ArrayView1<f32>) -> Result<Vec<f32>> {
        let q = self.prepare_query(query, 0)?;
        Ok(self
            .vectors
            .rows()
            .into_iter()
            .map(|r| dot(r.as_slice().expect("standard layout"), &q))
            .collect())
    }

    /// The best `k` items for one query, leaving out `exclude`. Returns fewer than `k` only
    /// when fewer items remain.
    pub fn search(&self, query: ArrayView1<f32>, k: usize, exclude: &[u32]) -> Result<Vec<Scored>> {
        let q = self.prepare_query(query, 0)?;
        let mut excluded = exclude.to_vec();
        excluded.sort_unstable();
        let n = self.len();
        let scan = |start: usize, end: usize| {
            let mut top = TopK::new(k);
            for i in start..end {
                let s = dot(self.vectors.row(i).as_slice().expect("standard layout"), &q);
                if (!top.full() || s >= top.threshold())
                    && excluded.binary_search(&(i as u32)).is_err()
                {
                    top.offer(s, i as u32);
                }
            }
            top
        };
        // Large catalogues: split the scan over threads and merge.
        let parts = if n >= 65_536 { self.pool_threads() } else { 1 };
        let tops: Vec<TopK> = if parts > 1 {
            let chunk = n.div_ceil(parts);
            self.install(|| {
                (0..parts)
                    .into_par_iter()
                    .map(|p| scan(p * chunk, ((p + 1) * chunk).min(n)))
                    .collect()
            })
        } else {
            vec![scan(0, n)]
        };
        let mut merged = TopK::new(k);
        for t in tops {
            for s in t.into_sorted() {
                merged.offer(s.score, s.item);
            }
        }
        Ok(merged.into_sorted())
    }

    /// The best `k` items for each row of `queries`, leaving out `exclude[row]` (pass an empty
    /// slice for no exclusions). No queries-by-items matrix is ever held. The first batch of
    /// 1,024 queries or more makes integer codes of the vectors (once per index, kept with it:
    /// half the memory of the vectors, about a quarter with AVX2 alone); from then on
    /// every batch of 16 queries or more with k up to 256 finds its candidates with the codes
    /// and scores them exactly: each list is then, to the bit, what [`ItemIndex::search`]
    /// gives for that query. Other batches, and vectors that cannot be coded (all zero, or over
    /// about 131,000 wide), score blocks with a matrix product, whose last bits may differ.
    pub fn search_batch(
        &self,
        queries: ArrayView2<f32>,
        k: usize,
        exclude: &[Vec<u32>],
    ) -> Result<Vec<Vec<Scored>>> {
        if queries.ncols() != self.dim() {
            return Err(RankError::DimensionMismatch {
                what: "queries",
                expected: self.dim(),
                found: queries.ncols(),
            });
        }
        if !exclude.is_empty() && exclude.len() != queries.nrows() {
            return Err(InvalidSetting::new(
                "exclude",
                format!(
                    "{} exclusion lists for {} queries",
                    exclude.len(),
                    queries.nrows()
                ),
            )
            .into());
        }
        let mut prepared = Array2::<f32>::zeros((queries.nrows(), self.dim()));
        for (i, (row, mut out)) in queries
            .rows()
            .into_iter()
            .zip(prepared.rows_mut())
            .enumerate()
        {
            let q = self.prepare_query(row, i)?;
            out.assign(&ArrayView1::from(&q[..]));
        }
        let nq = queries.nrows();
        let excl: Vec<Vec<u32>> = (0..nq)
            .map(|i| {
                let mut e = exclude.get(i).cloned().unwrap_or_default();
                e.sort_unstable();
                e
            })
            .collect();
        let threads = self.pool_threads().max(1);
        if nq >= CODED_MIN_QUERIES && k <= CODED_MAX_K {
            let codes = match self.codes.get() {
                Some(codes) => codes.as_ref(),
                None if nq >= CODED_FIRST_BATCH => self
                    .codes
                    .get_or_init(|| Codes::new(self.vectors.view(), threads))
                    .as_ref(),
                None => None,
            };
            if let Some(codes) = codes {
                return Ok(self.search_coded(codes, prepared.view(), k, &excl, threads));
            }
        }
        let items = self.len().div_ceil(ITEM_BLOCK);
        Ok(self.in_tasks(nq, items, threads, |queries, blocks| {
            let items = (blocks.start * ITEM_BLOCK).min(self.len())
                ..(blocks.end * ITEM_BLOCK).min(self.len());
            self.search_block(
                prepared.slice(s![queries.clone(), ..]),
                k,
                &excl[queries],
                items,
            )
        }))
    }

    /// Batch search through the integer codes, in panels of items.
    fn search_coded(
        &self,
        codes: &Codes,
        queries: ArrayView2<f32>,
        k: usize,
        exclude: &[Vec<u32>],
        threads: usize,
    ) -> Vec<Vec<Scored>> {
        self.in_tasks(queries.nrows(), codes.panels(), threads, |rows, panels| {
            let block = queries.slice(s![rows.clone(), ..]);
            codes.search(self.vectors.view(), block, k, &exclude[rows], panels)
        })
    }

    /// Runs `work(query rows, item units)` over tasks, each a block of queries, split over
    /// ranges of the `units` item units (blocks, panels) when there are fewer blocks than
    /// threads; each query's partial lists are merged afterwards.
    fn in_tasks(
        &self,
        nq: usize,
        units: usize,
        threads: usize,
        work: impl Fn(Range<usize>, Range<usize>) -> Vec<TopK> + Sync,
    ) -> Vec<Vec<Scored>> {
        let blocks: Vec<usize> = (0..nq).step_by(QUERY_BLOCK).collect();
        let units = units.max(1);
        let parts = threads.div_ceil(blocks.len().max(1)).clamp(1, units);
        let span = units.div_ceil(parts);
        let tasks: Vec<(usize, usize)> = blocks
            .iter()
            .flat_map(|&b| (0..parts).map(move |p| (b, p)))
            .collect();
        let partial: Vec<Vec<TopK>> = self.install(|| {
            tasks
                .par_iter()
                .map(|&(start, part)| {
                    let rows = start..(start + QUERY_BLOCK).min(nq);
                    work(
                        rows,
                        (part * span).min(units)..((part + 1) * span).min(units),
                    )
                })
                .collect()
        });
        let mut out: Vec<Vec<Scored>> = Vec::with_capacity(nq);
        for chunk in partial.chunks(parts) {
            let mut merged: Vec<TopK> = chunk[0].clone();
            for other in &chunk[1..] {
                for (m, o) in merged.iter_mut().zip(other) {
                    m.absorb(o);
                }
            }
            out.extend(merged.into_iter().map(TopK::into_sorted));
        }
        out
    }

    fn search_block(
        &self,
        queries: ArrayView2<f32>,
        k: usize,
        exclude: &[Vec<u32>],
        items: std::ops::Range<usize>,
    ) -> Vec<TopK> {
        let nq = queries.nrows();
        let mut tops: Vec<TopK> = (0..nq).map(|_| TopK::new(k)).collect();
        let mut scores = Array2::<f32>::zeros((nq, ITEM_BLOCK));
        for start in items.clone().step_by(ITEM_BLOCK) {
            let end = (start + ITEM_BLOCK).min(items.end);
            let block = self.vectors.slice(s![start..end, ..]);
            let mut out = scores.slice_mut(s![.., ..end - start]);
            ndarray::linalg::general_mat_mul(1.0, &queries, &block.t(), 0.0, &mut out);
            for (qi, row) in out.axis_iter(Axis(0)).enumerate() {
                let row = row
                    .as_slice()
                    .expect("rows of the score block are contiguous");
                select_into(&mut tops[qi], row, start, &exclude[qi]);
            }
        }
        tops
    }

    /// The `k` items most similar to `item` (itself left out).
    pub fn similar(&self, item: u32, k: usize) -> Result<Vec<Scored>> {
        self.check_item(item)?;
        let q = self.vectors.row(item as usize).to_owned();
        self.search(q.view(), k, &[item])
    }

    fn pool_threads(&self) -> usize {
        if self.threads == 0 {
            rayon::current_num_threads()
        } else {
            self.threads
        }
    }

    fn install<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        if self.threads == 0 {
            return f();
        }
        match rayon::ThreadPoolBuilder::new()
            .num_threads(self.threads)
            .build()
        {
            Ok(pool) => pool.install(f),
            Err(_) => f(),
        }
    }
}

/// Offers the scores of items `start..start + row.len()` to `top`. Items arrive in id order,
/// so a tie never displaces an earlier item: once `top` is full only strictly better scores
/// need a look, and whole runs of `LANES` scores are skipped with one vectorised compare.
fn select_into(top: &mut TopK, row: &[f32], start: usize, exclude: &[u32]) {
    let mut threshold = top.threshold();
    for (c, chunk) in row.chunks(LANES).enumerate() {
        if top.full() && !chunk.iter().fold(false, |any, &x| any | (x > threshold)) {
            continue;
        }
        for (j, &score) in chunk.iter().enumerate() {
            if score > threshold || !top.full() {
                let item = (start + c * LANES + j) as u32;
                if exclude.binary_search(&item).is_err() {
                    top.offer(score, item);
                    threshold = top.threshold();
                }
            }
        }
    }
}

fn check_finite(m: ArrayView2<f32>, what: &'static str) -> Result<()> {
    for (row, r) in m.rows().into_iter().enumerate() {
        if r.iter().any(|x| !x.is_finite()) {
            return Err(RankError::NonFinite { what, row });
        }
    }
    Ok(())
}
