//! Batch search with a first pass in small integers, exact all the same.
//!
//! Items and queries are rounded to integer codes (one scale for all items, one per query),
//! and every query-item pair is scored by an integer inner product. With AVX-512 VNNI, and in
//! the portable loops, the codes have 11 bits in 16-bit lanes (`vpdpwssd`: twice the products
//! per instruction of f32). With AVX2 alone, 16-bit lanes (`vpmaddwd`) measured only about
//! 1.6x f32, so items get 8-bit codes and queries 6-bit ones ([`Precision::Narrow`]:
//! `vpmaddubsw`, about 2.35x f32), at the price of a wider margin. The rounding moves a
//! score by at most a margin that the codes' errors bound (Cauchy-Schwarz), plus the f32
//! rounding of the exact score. Every item whose coded score is within twice that margin of
//! the k-th best coded score is a candidate; the candidates are scored exactly as one-query
//! search scores every item ([`crate::ItemIndex::search`]), and ranked by the same rule
//! (higher score first, then lower id). An item left out scores strictly below k others, so a
//! batch's lists are exactly, to the bit, those of searching each query alone.

use ndarray::ArrayView2;

use crate::kernel::dot;
use crate::topk::TopK;

/// Items per panel: the codes of 16 items side by side for each pair of dimensions, one
/// 512-bit register (or two 256-bit ones).
const PANEL: usize = 16;
/// Queries scored together against each panel (their accumulators stay in registers).
const TILE: usize = 4;
/// Largest code magnitude: 11 bits, within `i16`, and small enough that no sum can overflow
/// `i32` below 256 pairs of dimensions (narrowed for wider vectors in [`code_limit`]).
const MAX_CODE: f64 = 2047.0;
/// Narrow item codes: within `i8`, stored as `code + NARROW_OFFSET` in a `u8` (what
/// `vpmaddubsw` takes unsigned).
const NARROW_ITEM_LIMIT: f64 = 127.0;
const NARROW_OFFSET: i32 = 128;
/// Narrow query codes: 6 bits, so that two `vpmaddubsw` results (each a sum of two products
/// of at most 255 x 31) add up within `i16` before they are widened: 4 x 255 x 31 < 2^15.
const NARROW_QUERY_LIMIT: f64 = 31.0;
/// The largest [`Codes::item_to_query_error`] at which `Narrow` is kept. Measured on 100,000
/// uniform random vectors with one item's component raised (2,000 queries, the panels in two
/// halves), `Narrow` against `Wide`: 1.08x at a ratio of 0.27 (no outlier), 0.89x at 0.55,
/// 0.62x at 1.08, 0.08x at 4.3; MiniLM vectors of Amazon Scientific are at 0.39 (1.08x).
const NARROW_MAX_ERROR_RATIO: f64 = 0.5;
/// Dimensions per step of the narrow kernel: two groups of four bytes per item.
const NARROW_STEP: usize = 8;
/// Bytes of item codes scored against every query of a batch before the next ones: well within
/// a core's L2 cache.
const BLOCK_BYTES: usize = 512 * 1024;
/// Candidates a query holds before scoring them exactly.
const HELD_CANDIDATES: usize = 4096;
/// What underflow can lose per product and sum of an f32 inner product, beyond the relative
/// error: twice the smallest subnormal.
const SUBNORMAL_SLACK: f64 = 2.0 * 1.401_298_464_324_817e-45;
/// Unit roundoff of f32.
const F32_ROUNDOFF: f64 = 1.0 / (1u64 << 24) as f64;

/// How codes are stored and multiplied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Precision {
    /// 11-bit codes on both sides, in `i16`, a pair of dimensions per `i32` lane.
    Wide,
    /// 8-bit item codes (in `u8`, offset by 128) and 6-bit query codes (in `i8`), four
    /// dimensions per `i32` lane: a margin tens of times wider, so more candidates (about 400
    /// against 23 per query on MiniLM vectors, 100,000 items), but 1.5x the products per
    /// instruction of `Wide` with AVX2 (the `integer_peak` example).
    Narrow,
}

impl Precision {
    /// What this CPU runs fastest: `Narrow` where AVX2 is the widest instruction set
    /// ([`crate::kernel::isa`]); `Wide` with VNNI (which multiplies 16-bit pairs at twice
    /// f32's rate) and in the portable loops.
    pub(crate) fn for_this_cpu() -> Precision {
        match crate::kernel::isa() {
            crate::kernel::Isa::Avx2 => Precision::Narrow,
            _ => Precision::Wide,
        }
    }

    /// The codes, in words.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Precision::Wide => "11-bit codes",
            Precision::Narrow => {
                "8-bit item codes, 6-bit query codes (11-bit where the items' would be coarse)"
            }
        }
    }
}

/// Panels of `PANEL` items (the last padded with zero codes).
#[derive(Debug, Clone)]
enum Panels {
    /// For each pair of dimensions, each item's two codes.
    Wide(Vec<i16>),
    /// For each step of eight dimensions, each group of eight items' first four codes, then
    /// their last four (`code + 128`).
    Narrow(Vec<u8>),
}

/// Item codes, built once per index.
#[derive(Debug, Clone)]
pub(crate) struct Codes {
    panels: Panels,
    items: usize,
    /// `i32` words of a query's codes: a pair of dimensions each (`Wide`), four (`Narrow`).
    words: usize,
    /// The real value of one code unit.
    scale: f64,
    /// The largest code magnitude of a query.
    query_limit: f64,
    /// The largest norm of an item vector and of an item's rounding error.
    max_norm: f64,
    max_error: f64,
}

/// The largest code magnitude for `pairs` pairs of dimensions such that an inner product of
/// codes stays within `i32`: `2 * pairs * limit^2 < 2^31`.
fn code_limit(pairs: usize) -> f64 {
    let bound = ((i32::MAX as f64) / (2.0 * pairs.max(1) as f64))
        .sqrt()
        .floor()
        - 1.0;
    bound.min(MAX_CODE)
}

/// `v` rounded to the nearest integer (halves away from zero) within `limit`. Truncation,
/// not `f64::round`: without SSE4.1 in the target that is a library call per value.
fn to_code(v: f64, limit: f64) -> i16 {
    (v + 0.5f64.copysign(v)).clamp(-limit, limit) as i16
}

/// The largest magnitude among `values` (0 for none).
fn largest_magnitude(values: &[f32]) -> f32 {
    values.iter().fold(0f32, |m, &x| m.max(x.abs()))
}

/// The Euclidean norm, in f64.
fn norm(v: &[f32]) -> f64 {
    v.iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt()
}

/// Where one precision puts each item's codes.
struct Layout<T> {
    /// Codes per panel.
    stride: usize,
    /// Codes per item: its dimensions padded with zeros to whole words.
    padded: usize,
    limit: f64,
    /// Places an item's codes in its panel, given its place there.
    place: fn(&[i16], &mut [T], usize),
}

/// `Wide`: each pair of codes beside the other items' pairs.
fn place_wide(codes: &[i16], panel: &mut [i16], item: usize) {
    let at = item * 2;
    for (pair, slot) in codes.chunks_exact(2).zip(panel.chunks_exact_mut(2 * PANEL)) {
        slot[at..at + 2].copy_from_slice(pair);
    }
}

/// `Narrow`: in each step of eight dimensions, the item's first four codes in its group's
/// first 32 bytes, the last four in the next 32, offset to unsigned.
fn place_narrow(codes: &[i16], panel: &mut [u8], item: usize) {
    let (group, lane) = (item / 8, item % 8);
    let steps = codes
        .chunks_exact(NARROW_STEP)
        .zip(panel.chunks_exact_mut(NARROW_STEP * PANEL));
    for (codes, slot) in steps {
        for (half, four) in codes.chunks_exact(4).enumerate() {
            let at = (group * 2 + half) * 32 + lane * 4;
            for (byte, &code) in slot[at..at + 4].iter_mut().zip(four) {
                *byte = (i32::from(code) + NARROW_OFFSET) as u8;
            }
        }
    }
}

/// Codes the items from `first` on into `panels` (whole panels of the item matrix `values`,
/// `dim` wide, laid out by `layout`); returns their largest norm and largest rounding error.
fn code_items<T>(
    values: &[f32],
    dim: usize,
    first: usize,
    panels: &mut [T],
    layout: &Layout<T>,
    scale: f64,
) -> (f64, f64) {
    let per_unit = 1.0 / scale;
    let stride = layout.stride;
    let items = (values.len() / dim - first).min(panels.len() / stride * PANEL);
    let (mut max_norm, mut max_error) = (0f64, 0f64);
    // One row's codes side by side first (simple loops the compiler vectorises), then placed
    // into the panel.
    let mut codes = vec![0i16; layout.padded];
    for (i, row) in values[first * dim..]
        .chunks_exact(dim)
        .take(items)
        .enumerate()
    {
        let (mut error, mut norm2) = (0f64, 0f64);
        for (code, &x) in codes.iter_mut().zip(row) {
            let x = f64::from(x);
            *code = to_code(x * per_unit, layout.limit);
            error += (x - f64::from(*code) * scale).powi(2);
            norm2 += x * x;
        }
        (layout.place)(
            &codes,
            &mut panels[(i / PANEL) * stride..][..stride],
            i % PANEL,
        );
        max_norm = max_norm.max(norm2.sqrt());
        max_error = max_error.max(error.sqrt());
    }
    (max_norm, max_error)
}

/// [`code_items`] over every panel on up to `threads` threads, whole panels each.
fn code_all<T: Send>(
    values: &[f32],
    dim: usize,
    panels: &mut [T],
    layout: &Layout<T>,
    scale: f64,
    threads: usize,
) -> (f64, f64) {
    let stride = layout.stride;
    let per_thread = (panels.len() / stride).div_ceil(threads.max(1)).max(1);
    // Plain scoped threads rather than rayon: this runs inside `OnceLock::get_or_init`, and a
    // rayon worker waiting here could steal a task that asks the same lock again.
    std::thread::scope(|scope| {
        let parts: Vec<_> = panels
            .chunks_mut(per_thread * stride)
            .enumerate()
            .map(|(part, chunk)| {
                let first = part * per_thread * PANEL;
                scope.spawn(move || code_items(values, dim, first, chunk, layout, scale))
            })
            .collect();
        parts.into_iter().fold((0f64, 0f64), |(n, e), part| {
            let (pn, pe) = part.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            (n.max(pn), e.max(pe))
        })
    })
}

impl Codes {
    /// Panels of items (the unit `search` splits item ranges by).
    pub fn panels(&self) -> usize {
        self.items.div_ceil(PANEL)
    }

    /// Codes for `vectors` in the precision this CPU runs fastest, made on up to `threads`
    /// threads; `None` when they carry nothing to code (no width, all zero) or are too wide
    /// for exact integer sums.
    ///
    /// `Narrow` gives way to `Wide` where the items' 8-bit codes are coarse next to the
    /// queries' 6-bit ones ([`NARROW_MAX_ERROR_RATIO`]): a few items far larger than the rest
    /// make the common scale coarse, the margin wide and nearly every item a candidate.
    pub fn new(vectors: ArrayView2<f32>, threads: usize) -> Option<Codes> {
        let codes = Codes::with_precision(vectors, threads, Precision::for_this_cpu())?;
        match codes.panels {
            Panels::Narrow(_) if codes.item_to_query_error(vectors) > NARROW_MAX_ERROR_RATIO => {
                Codes::with_precision(vectors, threads, Precision::Wide)
            }
            _ => Some(codes),
        }
    }

    /// `Narrow` codes' largest item error against what coding the items' own vectors in 6
    /// bits (as queries are) loses on average: the margin is about the sum of the two, so a
    /// ratio well under 1 means the 8-bit items add little to it. Evenly spaced rows, at
    /// most 1,024 of them.
    fn item_to_query_error(&self, vectors: ArrayView2<f32>) -> f64 {
        let rows = vectors.nrows();
        let step = rows.div_ceil(1024).max(1);
        let (mut sum, mut count) = (0f64, 0usize);
        for row in vectors.rows().into_iter().step_by(step) {
            let largest = largest_magnitude(row.as_slice().expect("standard layout"));
            if largest == 0.0 {
                continue;
            }
            let scale = f64::from(largest) / NARROW_QUERY_LIMIT;
            let error: f64 = row
                .iter()
                .map(|&x| {
                    let code = to_code(f64::from(x) / scale, NARROW_QUERY_LIMIT);
                    (f64::from(x) - f64::from(code) * scale).powi(2)
                })
                .sum();
            sum += error.sqrt();
            count += 1;
        }
        match count {
            0 => 0.0,
            _ => self.max_error / (sum / count as f64),
        }
    }

    /// [`Codes::new`] in `precision` (`Narrow` falls back to `Wide` where its sums could
    /// overflow `i32`).
    pub fn with_precision(
        vectors: ArrayView2<f32>,
        threads: usize,
        precision: Precision,
    ) -> Option<Codes> {
        let (items, dim) = vectors.dim();
        let pairs = dim.div_ceil(2);
        let steps = dim.div_ceil(NARROW_STEP);
        // Narrow codes only the widths Wide does (up to about 133,000): its sums would fit
        // `i32` up to about 271,000, but the f32 rounding term of the margin (`gamma` in
        // `QueryCodes::new`) is only proven below about 166,000.
        let precision = match precision {
            Precision::Narrow if code_limit(pairs) < 127.0 => Precision::Wide,
            other => other,
        };
        let (limit, query_limit) = match precision {
            Precision::Wide => (code_limit(pairs), code_limit(pairs)),
            Precision::Narrow => (NARROW_ITEM_LIMIT, NARROW_QUERY_LIMIT),
        };
        let values = vectors
            .as_slice()
            .expect("the index keeps its vectors in standard layout");
        let largest = largest_magnitude(values);
        if dim == 0 || largest == 0.0 || limit < 127.0 {
            return None;
        }
        let scale = f64::from(largest) / limit;
        let n_panels = items.div_ceil(PANEL);
        let (panels, words, (max_norm, max_error)) = match precision {
            Precision::Wide => {
                let layout = Layout {
                    stride: pairs * 2 * PANEL,
                    padded: pairs * 2,
                    limit,
                    place: place_wide,
                };
                let mut panels = vec![0i16; n_panels * layout.stride];
                let found = code_all(values, dim, &mut panels, &layout, scale, threads);
                (Panels::Wide(panels), pairs, found)
            }
            Precision::Narrow => {
                let layout = Layout {
                    stride: steps * NARROW_STEP * PANEL,
                    padded: steps * NARROW_STEP,
                    limit,
                    place: place_narrow,
                };
                let mut panels = vec![NARROW_OFFSET as u8; n_panels * layout.stride];
                let found = code_all(values, dim, &mut panels, &layout, scale, threads);
                (Panels::Narrow(panels), steps * 2, found)
            }
        };
        Some(Codes {
            panels,
            items,
            words,
            scale,
            query_limit,
            max_norm,
            max_error,
        })
    }

    /// The `k` best items among panels `panel_range` for each query (rows of `queries`,
    /// already prepared), skipping each query's sorted `exclude` list; `items` are the index's
    /// vectors these codes were made from. Lists over disjoint ranges merge into the lists over
    /// their union.
    pub fn search(
        &self,
        items: ArrayView2<f32>,
        queries: ArrayView2<f32>,
        k: usize,
        exclude: &[Vec<u32>],
        panel_range: std::ops::Range<usize>,
    ) -> Vec<TopK> {
        let coded = QueryCodes::new(self, queries);
        let exact = |q: usize, item: u32| {
            let (query, item) = (queries.row(q), items.row(item as usize));
            let query = query.as_slice().expect("prepared queries are contiguous");
            dot(item.as_slice().expect("standard layout"), query)
        };
        let mut states: Vec<Selection> = coded
            .margin
            .iter()
            .map(|&margin| Selection::new(k, margin))
            .collect();
        // Item blocks that stay in cache while every tile of queries is scored against them
        // (a panel takes four bytes per word of a query in either precision).
        let words = self.words;
        let block_panels = (BLOCK_BYTES / (words * 4 * PANEL)).max(1);
        let mut scores = vec![0i32; TILE * block_panels * PANEL];
        for first in panel_range.clone().step_by(block_panels) {
            let panels = block_panels.min(panel_range.end - first);
            let start = first * PANEL;
            let in_block = (panels * PANEL).min(self.items - start);
            for (tile, states) in states.chunks_mut(TILE).enumerate() {
                let codes = &coded.codes[tile * TILE * words..][..TILE * words];
                match &self.panels {
                    Panels::Wide(all) => {
                        let stride = words * 2 * PANEL;
                        let block = &all[first * stride..(first + panels) * stride];
                        kernels::scores(codes, block, words, panels, &mut scores);
                    }
                    Panels::Narrow(all) => {
                        let stride = words * 4 * PANEL;
                        let block = &all[first * stride..(first + panels) * stride];
                        kernels::narrow_scores(codes, block, words, panels, &mut scores);
                    }
                }
                for (t, state) in states.iter_mut().enumerate() {
                    let q = tile * TILE + t;
                    let row = &scores[t * panels * PANEL..][..in_block];
                    state.scan(row, start, &exclude[q], |item| exact(q, item));
                }
            }
        }
        states
            .into_iter()
            .enumerate()
            .map(|(q, state)| state.finish(|item| exact(q, item)))
            .collect()
    }
}

/// A batch of queries as codes, padded to whole tiles, with each query's margin in code units.
struct QueryCodes {
    /// Per query, its codes in `words` `i32` words: two 16-bit codes each (`Wide`, low half
    /// first) or four 8-bit ones (`Narrow`, lowest byte first).
    codes: Vec<i32>,
    /// Twice the largest gap, in products of code units, between a coded score and the f32
    /// score one-query search gives.
    margin: Vec<f64>,
}

impl QueryCodes {
    fn new(items: &Codes, queries: ArrayView2<f32>) -> QueryCodes {
        let (n, dim) = queries.dim();
        let words = items.words;
        let mut codes = vec![0i32; n.div_ceil(TILE) * TILE * words];
        let mut margin = Vec::with_capacity(n);
        let per_word = match items.panels {
            Panels::Wide(_) => 2,
            Panels::Narrow(_) => 4,
        };
        let (bits, mask) = (32 / per_word, (1i32 << (32 / per_word)) - 1);
        // The f32 inner product of `dim` terms is within `gamma * |q| * |x|` of the real one,
        // gamma = dim u / (1 - dim u) <= 1.01 dim u while dim u <= 0.0099; `code_limit` refuses
        // codes for vectors over about 131,000 wide (dim u < 0.008).
        let gamma = 1.01 * dim as f64 * F32_ROUNDOFF;
        for (q, row) in queries.rows().into_iter().enumerate() {
            let row = row.as_slice().expect("prepared queries are contiguous");
            let largest = largest_magnitude(row);
            let scale = if largest > 0.0 {
                f64::from(largest) / items.query_limit
            } else {
                1.0
            };
            let (mut error, mut coded_norm) = (0f64, 0f64);
            for (d, &x) in row.iter().enumerate() {
                let code = to_code(f64::from(x) / scale, items.query_limit);
                error += (f64::from(x) - f64::from(code) * scale).powi(2);
                coded_norm += (f64::from(code) * scale).powi(2);
                codes[q * words + d / per_word] |=
                    (i32::from(code) & mask) << (bits * (d % per_word));
            }
            // |q.x - q'.x'| <= |q - q'| |x| + |q'| |x - x'| for the coded q', x'; then the f32
            // rounding of q.x; a relative hair for the rounding of these figures themselves.
            let real = error.sqrt() * items.max_norm
                + coded_norm.sqrt() * items.max_error
                + gamma * norm(row) * items.max_norm
                + SUBNORMAL_SLACK * dim as f64;
            // Scores that can overflow f32 (to infinity, or NaN) have no bounded gap: every
            // item is a candidate for such a query.
            let overflows = norm(row) * items.max_norm * (1.0 + gamma) >= f64::from(f32::MAX);
            margin.push(if overflows {
                f64::INFINITY
            } else {
                2.0 * real * (1.0 + 1e-9) / (scale * items.scale) + 1.0
            });
        }
        QueryCodes { codes, margin }
    }
}

/// One query's pass over the coded scores: the k best coded scores (for the threshold) and
/// every item that could still be among the k best exactly.
struct Selection {
    k: usize,
    /// The k best coded scores so far, best first.
    best: Vec<i32>,
    /// Items within the margin of the k-th best when seen, with their coded scores.
    candidates: Vec<(i32, u32)>,
    /// Candidates already scored exactly (when many tie, as in a catalogue of equal vectors,
    /// they are scored as they come rather than held). Scoring more items than needed never
    /// changes the k best.
    exact: TopK,
    /// Twice the largest gap between a coded score and the exact one, in code units.
    margin: f64,
}

impl Selection {
    fn new(k: usize, margin: f64) -> Selection {
        Selection {
            k,
            best: Vec::with_capacity(k + 1),
            candidates: Vec::new(),
            exact: TopK::new(k),
            margin,
        }
    }

    /// The lowest coded score an item can have and still be among the k best exactly.
    fn floor(&self) -> i32 {
        if self.k == 0 {
            return i32::MAX; // nothing is wanted
        }
        if self.best.len() < self.k {
            return i32::MIN;
        }
        let floor = (f64::from(self.best[self.k - 1]) - self.margin).ceil();
        floor.max(f64::from(i32::MIN)) as i32
    }

    /// Offers the coded scores of items `start..start + row.len()`; `exact` scores an item.
    fn scan(&mut self, row: &[i32], start: usize, exclude: &[u32], exact: impl Fn(u32) -> f32) {
        if self.k == 0 {
            return;
        }
        let mut floor = self.floor();
        for (c, chunk) in row.chunks(32).enumerate() {
            if !chunk.iter().fold(false, |any, &s| any | (s >= floor)) {
                continue;
            }
            for (j, &score) in chunk.iter().enumerate() {
                if score < floor {
                    continue;
                }
                let item = (start + c * 32 + j) as u32;
                if exclude.binary_search(&item).is_ok() {
                    continue;
                }
                self.candidates.push((score, item));
                let at = self.best.partition_point(|&b| b >= score);
                if at < self.k {
                    self.best.insert(at, score);
                    self.best.truncate(self.k);
                    floor = self.floor();
                }
                if self.candidates.len() >= HELD_CANDIDATES {
                    self.score_candidates(&exact);
                }
            }
        }
    }

    /// Scores the candidates still within the margin exactly, and lets them go.
    fn score_candidates(&mut self, exact: &impl Fn(u32) -> f32) {
        let floor = self.floor();
        for &(score, item) in &self.candidates {
            if score >= floor {
                self.exact.offer(exact(item), item);
            }
        }
        self.candidates.clear();
    }

    /// The exact k best.
    fn finish(mut self, exact: impl Fn(u32) -> f32) -> TopK {
        self.score_candidates(&exact);
        self.exact
    }
}

/// The integer inner products of a tile of query codes with every panel.
#[allow(unsafe_code)]
mod kernels {
    use super::{NARROW_STEP, PANEL, TILE};

    /// `out[t * panels * PANEL + item] = query t . item`, for the `TILE` queries in `codes`
    /// (`pairs` packed pairs each) and every item of `panels`.
    pub fn scores(codes: &[i32], panels: &[i16], pairs: usize, n_panels: usize, out: &mut [i32]) {
        #[cfg(target_arch = "x86_64")]
        match crate::kernel::isa() {
            // SAFETY: `isa` names a level only where the CPU has its features; the slices'
            // lengths are checked inside.
            crate::kernel::Isa::Avx512 => {
                return unsafe { x86::scores_vnni(codes, panels, pairs, n_panels, out) }
            }
            // SAFETY: as above.
            crate::kernel::Isa::Avx2 => {
                return unsafe { x86::scores_avx2(codes, panels, pairs, n_panels, out) }
            }
            crate::kernel::Isa::Portable => {}
        }
        portable(codes, panels, pairs, n_panels, out);
    }

    pub(super) fn portable(
        codes: &[i32],
        panels: &[i16],
        pairs: usize,
        n_panels: usize,
        out: &mut [i32],
    ) {
        let width = n_panels * PANEL;
        for p in 0..n_panels {
            let panel = &panels[p * pairs * 2 * PANEL..(p + 1) * pairs * 2 * PANEL];
            for t in 0..TILE {
                let query = &codes[t * pairs..(t + 1) * pairs];
                let mut acc = [0i32; PANEL];
                for (j, &pair) in query.iter().enumerate() {
                    let (lo, hi) = (i32::from(pair as i16), i32::from((pair >> 16) as i16));
                    let row = &panel[j * 2 * PANEL..(j + 1) * 2 * PANEL];
                    for (i, a) in acc.iter_mut().enumerate() {
                        *a += lo * i32::from(row[2 * i]) + hi * i32::from(row[2 * i + 1]);
                    }
                }
                out[t * width + p * PANEL..][..PANEL].copy_from_slice(&acc);
            }
        }
    }

    /// `out[t * panels * PANEL + item] = query t . item` in `Narrow` codes, plus a constant
    /// per query (128 x the sum of its codes: the items' offset), for the `TILE` queries in
    /// `codes` (`words` words each) and every item of `panels`. The constant moves all of a
    /// query's scores alike, so no ranking and no gap between two scores depends on it.
    pub fn narrow_scores(
        codes: &[i32],
        panels: &[u8],
        words: usize,
        n_panels: usize,
        out: &mut [i32],
    ) {
        #[cfg(target_arch = "x86_64")]
        if crate::kernel::isa() >= crate::kernel::Isa::Avx2 {
            // SAFETY: `isa` names a level only where the CPU has its features; the slices'
            // lengths are checked inside.
            return unsafe { x86::narrow_avx2(codes, panels, words, n_panels, out) };
        }
        portable_narrow(codes, panels, words, n_panels, out);
    }

    pub(super) fn portable_narrow(
        codes: &[i32],
        panels: &[u8],
        words: usize,
        n_panels: usize,
        out: &mut [i32],
    ) {
        let width = n_panels * PANEL;
        let stride = words * 4 * PANEL;
        for p in 0..n_panels {
            let panel = &panels[p * stride..(p + 1) * stride];
            for t in 0..TILE {
                let mut acc = [0i32; PANEL];
                for (w, &word) in codes[t * words..(t + 1) * words].iter().enumerate() {
                    let q = word.to_le_bytes().map(|b| i32::from(b as i8));
                    let (step, half) = (w / 2, w % 2);
                    for (i, a) in acc.iter_mut().enumerate() {
                        let at =
                            step * NARROW_STEP * PANEL + ((i / 8) * 2 + half) * 32 + (i % 8) * 4;
                        let x = &panel[at..at + 4];
                        *a += x.iter().zip(q).map(|(&x, q)| i32::from(x) * q).sum::<i32>();
                    }
                }
                out[t * width + p * PANEL..][..PANEL].copy_from_slice(&acc);
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    pub(super) mod x86 {
        use super::{NARROW_STEP, PANEL, TILE};
        use std::arch::x86_64::*;

        /// `have >= the product of factors`, the product checked (a wrapped product would
        /// let a short slice through).
        fn at_least(have: usize, factors: &[usize]) -> bool {
            let need = factors.iter().try_fold(1usize, |n, &f| n.checked_mul(f));
            need.is_some_and(|need| have >= need)
        }

        fn check(codes: &[i32], panels: &[i16], pairs: usize, n_panels: usize, out: &[i32]) {
            assert!(at_least(codes.len(), &[TILE, pairs]));
            assert!(at_least(panels.len(), &[n_panels, pairs, 2 * PANEL]));
            assert!(at_least(out.len(), &[TILE, n_panels, PANEL]));
        }

        /// Per step of eight dimensions and per query: for each group of eight items, two
        /// `vpmaddubsw` (unsigned item bytes by signed query bytes, pairs summed in 16 bits),
        /// their sum (within `i16`: see `NARROW_QUERY_LIMIT`), widened to `i32` by
        /// `vpmaddwd` against ones. 4 queries x 16 items in eight accumulators.
        #[target_feature(enable = "avx2")]
        pub unsafe fn narrow_avx2(
            codes: &[i32],
            panels: &[u8],
            words: usize,
            n_panels: usize,
            out: &mut [i32],
        ) {
            assert!(words.is_multiple_of(2) && at_least(codes.len(), &[TILE, words]));
            assert!(at_least(panels.len(), &[n_panels, words, 4 * PANEL]));
            assert!(at_least(out.len(), &[TILE, n_panels, PANEL]));
            let width = n_panels * PANEL;
            let ones = _mm256_set1_epi16(1);
            for p in 0..n_panels {
                let panel = panels.as_ptr().add(p * words * 4 * PANEL);
                // Two queries at a time, over every step: four accumulators, the step's four
                // item registers, two queries' two broadcasts, the ones and two sums fit the
                // sixteen registers without a spill (all four queries at once did not). The
                // panel (6 KiB at 384 wide) is still in L1 for the second pair.
                for first in (0..TILE).step_by(2) {
                    let mut acc = [[_mm256_setzero_si256(); 2]; 2];
                    for step in 0..words / 2 {
                        let at = panel.add(step * NARROW_STEP * PANEL);
                        let x = [
                            _mm256_loadu_si256(at as *const __m256i),
                            _mm256_loadu_si256(at.add(32) as *const __m256i),
                            _mm256_loadu_si256(at.add(64) as *const __m256i),
                            _mm256_loadu_si256(at.add(96) as *const __m256i),
                        ];
                        for (t, acc) in acc.iter_mut().enumerate() {
                            let q = codes.as_ptr().add((first + t) * words + 2 * step);
                            let (q0, q1) = (_mm256_set1_epi32(*q), _mm256_set1_epi32(*q.add(1)));
                            for (g, acc) in acc.iter_mut().enumerate() {
                                let pairs = _mm256_add_epi16(
                                    _mm256_maddubs_epi16(x[2 * g], q0),
                                    _mm256_maddubs_epi16(x[2 * g + 1], q1),
                                );
                                *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(pairs, ones));
                            }
                        }
                    }
                    for (t, acc) in acc.iter().enumerate() {
                        let o = out.as_mut_ptr().add((first + t) * width + p * PANEL);
                        _mm256_storeu_si256(o as *mut __m256i, acc[0]);
                        _mm256_storeu_si256(o.add(PANEL / 2) as *mut __m256i, acc[1]);
                    }
                }
            }
        }

        /// Two 256-bit halves per panel: 4 queries x 16 items in eight accumulators.
        #[target_feature(enable = "avx2")]
        pub unsafe fn scores_avx2(
            codes: &[i32],
            panels: &[i16],
            pairs: usize,
            n_panels: usize,
            out: &mut [i32],
        ) {
            check(codes, panels, pairs, n_panels, out);
            let width = n_panels * PANEL;
            for p in 0..n_panels {
                let panel = panels.as_ptr().add(p * pairs * 2 * PANEL);
                let mut acc = [[_mm256_setzero_si256(); 2]; TILE];
                for j in 0..pairs {
                    let lo = _mm256_loadu_si256(panel.add(j * 2 * PANEL) as *const __m256i);
                    let hi = _mm256_loadu_si256(panel.add(j * 2 * PANEL + PANEL) as *const __m256i);
                    for (t, acc) in acc.iter_mut().enumerate() {
                        let q = _mm256_set1_epi32(*codes.get_unchecked(t * pairs + j));
                        acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(q, lo));
                        acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(q, hi));
                    }
                }
                for (t, acc) in acc.iter().enumerate() {
                    let o = out.as_mut_ptr().add(t * width + p * PANEL);
                    _mm256_storeu_si256(o as *mut __m256i, acc[0]);
                    _mm256_storeu_si256(o.add(PANEL / 2) as *mut __m256i, acc[1]);
                }
            }
        }

        /// One 512-bit register per panel, multiply-add of pairs fused with the sum (VNNI): 4
        /// queries x 4 panels in sixteen accumulators, then the last panels one by one.
        #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
        pub unsafe fn scores_vnni(
            codes: &[i32],
            panels: &[i16],
            pairs: usize,
            n_panels: usize,
            out: &mut [i32],
        ) {
            check(codes, panels, pairs, n_panels, out);
            let mut p = 0;
            while p + 4 <= n_panels {
                tile_vnni::<4>(codes, panels, pairs, n_panels, p, out);
                p += 4;
            }
            while p < n_panels {
                tile_vnni::<1>(codes, panels, pairs, n_panels, p, out);
                p += 1;
            }
        }

        /// `G` panels from panel `p` (a constant count, so the accumulators stay in registers).
        /// Always inlined: only inside `scores_vnni` is it compiled with the AVX-512 features.
        #[inline(always)]
        unsafe fn tile_vnni<const G: usize>(
            codes: &[i32],
            panels: &[i16],
            pairs: usize,
            n_panels: usize,
            p: usize,
            out: &mut [i32],
        ) {
            let stride = pairs * 2 * PANEL;
            let mut acc = [[_mm512_setzero_si512(); G]; TILE];
            for j in 0..pairs {
                let mut x = [_mm512_setzero_si512(); G];
                for (g, x) in x.iter_mut().enumerate() {
                    let at = (p + g) * stride + j * 2 * PANEL;
                    *x = _mm512_loadu_si512(panels.as_ptr().add(at) as *const _);
                }
                for (t, acc) in acc.iter_mut().enumerate() {
                    let q = _mm512_set1_epi32(*codes.get_unchecked(t * pairs + j));
                    for (acc, &x) in acc.iter_mut().zip(&x) {
                        *acc = _mm512_dpwssd_epi32(*acc, q, x);
                    }
                }
            }
            let width = n_panels * PANEL;
            for (t, acc) in acc.iter().enumerate() {
                for (g, acc) in acc.iter().enumerate() {
                    let o = out.as_mut_ptr().add(t * width + (p + g) * PANEL);
                    _mm512_storeu_si512(o as *mut _, *acc);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The next state of a xorshift stream (the tests' reproducible data).
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// Every kernel this CPU can run computes what the portable loops compute, for panel
    /// counts that exercise the groups of four and the ones left over, codes of both signs.
    #[test]
    #[allow(unsafe_code)]
    fn every_kernel_matches_the_portable_one() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || ((xorshift(&mut state) >> 33) % 4095) as i32 - 2047;
        for (pairs, n_panels) in [(1, 1), (3, 4), (7, 5), (192, 9)] {
            let codes: Vec<i32> = (0..TILE * pairs)
                .map(|_| i32::from(next() as i16 as u16) | (next() << 16))
                .collect();
            let panels: Vec<i16> = (0..n_panels * pairs * 2 * PANEL)
                .map(|_| next() as i16)
                .collect();
            let mut slow = vec![0; TILE * n_panels * PANEL];
            kernels::portable(&codes, &panels, pairs, n_panels, &mut slow);
            let mut fast = vec![0; slow.len()];
            kernels::scores(&codes, &panels, pairs, n_panels, &mut fast);
            assert_eq!(fast, slow, "dispatched, {pairs} pairs, {n_panels} panels");
            #[cfg(target_arch = "x86_64")]
            {
                use std::arch::is_x86_feature_detected as has;
                if has!("avx2") {
                    fast.fill(0);
                    // SAFETY: the CPU has AVX2 (checked just above).
                    unsafe {
                        kernels::x86::scores_avx2(&codes, &panels, pairs, n_panels, &mut fast)
                    };
                    assert_eq!(fast, slow, "AVX2, {pairs} pairs, {n_panels} panels");
                }
                if has!("avx512f") && has!("avx512bw") && has!("avx512vnni") {
                    fast.fill(0);
                    // SAFETY: the CPU has the features (checked just above).
                    unsafe {
                        kernels::x86::scores_vnni(&codes, &panels, pairs, n_panels, &mut fast)
                    };
                    assert_eq!(fast, slow, "VNNI, {pairs} pairs, {n_panels} panels");
                }
            }
        }
    }

    /// The narrow AVX2 kernel computes what the narrow portable loops compute, at the codes'
    /// extremes (item bytes 0 to 255, query codes -31 to 31, where 16-bit sums are largest).
    #[test]
    #[allow(unsafe_code)]
    fn the_narrow_kernel_matches_the_portable_one() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |n: u64| (xorshift(&mut state) >> 33) % n;
        // The extremes the settings allow (a limit raised past what 16-bit sums hold makes the
        // AVX2 kernel differ from the portable loops, which sum in i32).
        let q_max = NARROW_QUERY_LIMIT as i8;
        let byte_max = (NARROW_ITEM_LIMIT as i32 + NARROW_OFFSET) as u8;
        for (words, n_panels) in [(2, 1), (4, 3), (48, 5)] {
            let mut codes: Vec<i32> = (0..TILE * words)
                .map(|_| {
                    let code = |_| (next(2 * q_max as u64 + 1) as i8 - q_max) as u8;
                    i32::from_le_bytes([0; 4].map(code))
                })
                .collect();
            // The first query all at the largest code and the second all at the lowest: against
            // the largest bytes, the kernel's 16-bit sums are at their largest magnitude.
            codes[..words].fill(i32::from_le_bytes([q_max as u8; 4]));
            codes[words..2 * words].fill(i32::from_le_bytes([(-q_max) as u8; 4]));
            let mut panels: Vec<u8> = (0..n_panels * words * 4 * PANEL)
                .map(|_| next(u64::from(byte_max) + 1) as u8)
                .collect();
            // The first step of the first panel's first eight items: both halves at the most.
            panels[..4 * PANEL].fill(byte_max);
            let mut slow = vec![0; TILE * n_panels * PANEL];
            kernels::portable_narrow(&codes, &panels, words, n_panels, &mut slow);
            let mut fast = vec![0; slow.len()];
            kernels::narrow_scores(&codes, &panels, words, n_panels, &mut fast);
            assert_eq!(fast, slow, "dispatched, {words} words, {n_panels} panels");
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                fast.fill(0);
                // SAFETY: the CPU has AVX2 (checked just above).
                unsafe { kernels::x86::narrow_avx2(&codes, &panels, words, n_panels, &mut fast) };
                assert_eq!(fast, slow, "AVX2, {words} words, {n_panels} panels");
            }
        }
    }

    /// Uniform in [-1, 1) from a seed, with item 3 (when there is one) an outlier that makes
    /// the codes coarse.
    fn vectors(rows: usize, dim: usize, seed: u64) -> ndarray::Array2<f32> {
        let mut state = seed.max(1);
        let mut m = ndarray::Array2::from_shape_fn((rows, dim), |_| {
            (xorshift(&mut state) >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        });
        if rows > 3 && dim > 0 {
            m[[3, 0]] = 40.0;
        }
        m
    }

    /// Both precisions give exactly the lists of scoring every item in f32 (by the function
    /// one-query search uses), on widths that leave partial steps and panels, with exclusions;
    /// the last case spans several item blocks, and is also searched in two panel ranges
    /// whose lists are merged (as the index does with fewer query blocks than threads).
    #[test]
    fn both_precisions_equal_scoring_every_item() {
        for (items, dim) in [(37, 5), (300, 17), (1000, 384), (3000, 700)] {
            let index = vectors(items, dim, 7);
            let queries = vectors(9, dim, 11);
            let exclude: Vec<Vec<u32>> = (0..9u32).map(|q| vec![q, q + 20]).collect();
            let k = 10;
            let expected: Vec<Vec<crate::Scored>> = (0..9)
                .map(|q| {
                    let query = queries.row(q);
                    let query = query.as_slice().unwrap();
                    let mut top = TopK::new(k);
                    for (i, row) in index.rows().into_iter().enumerate() {
                        if !exclude[q].contains(&(i as u32)) {
                            top.offer(dot(row.as_slice().unwrap(), query), i as u32);
                        }
                    }
                    top.into_sorted()
                })
                .collect();
            for precision in [Precision::Wide, Precision::Narrow] {
                let codes = Codes::with_precision(index.view(), 2, precision).unwrap();
                let got: Vec<Vec<crate::Scored>> = codes
                    .search(index.view(), queries.view(), k, &exclude, 0..codes.panels())
                    .into_iter()
                    .map(TopK::into_sorted)
                    .collect();
                assert_eq!(got, expected, "{precision:?}, {items} x {dim}");
                let half = codes.panels() / 2;
                let mut merged = codes.search(index.view(), queries.view(), k, &exclude, 0..half);
                let rest = codes.search(
                    index.view(),
                    queries.view(),
                    k,
                    &exclude,
                    half..codes.panels(),
                );
                for (list, other) in merged.iter_mut().zip(&rest) {
                    list.absorb(other);
                }
                let merged: Vec<_> = merged.into_iter().map(TopK::into_sorted).collect();
                assert_eq!(
                    merged, expected,
                    "{precision:?}, {items} x {dim}, two ranges"
                );
            }
        }
    }

    /// Every coded score is within half its query's margin of the f32 score one-query search
    /// gives, pair by pair, in both precisions: what exactness rests on. (At 5 wide some pair
    /// uses about three quarters of it, so a margin half as wide fails here.)
    #[test]
    fn coded_scores_are_within_half_the_margin() {
        for (items, dim) in [(40, 5), (64, 17), (48, 384)] {
            let index = vectors(items, dim, 3);
            let queries = vectors(2 * TILE, dim, 5);
            for precision in [Precision::Wide, Precision::Narrow] {
                let codes = Codes::with_precision(index.view(), 1, precision).unwrap();
                let coded = QueryCodes::new(&codes, queries.view());
                let (words, n_panels) = (codes.words, codes.panels());
                let width = n_panels * PANEL;
                let mut out = vec![0i32; TILE * width];
                for tile in 0..2 {
                    let tile_codes = &coded.codes[tile * TILE * words..][..TILE * words];
                    match &codes.panels {
                        Panels::Wide(p) => {
                            kernels::scores(tile_codes, p, words, n_panels, &mut out)
                        }
                        Panels::Narrow(p) => {
                            kernels::narrow_scores(tile_codes, p, words, n_panels, &mut out)
                        }
                    }
                    for t in 0..TILE {
                        let q = tile * TILE + t;
                        let query = queries.row(q);
                        let query = query.as_slice().unwrap();
                        let largest = largest_magnitude(query);
                        let unit = f64::from(largest) / codes.query_limit * codes.scale;
                        // Narrow's sums carry 128 x the sum of the query's codes.
                        let shift = match codes.panels {
                            Panels::Wide(_) => 0,
                            Panels::Narrow(_) => {
                                let bytes = tile_codes[t * words..][..words]
                                    .iter()
                                    .flat_map(|w| w.to_le_bytes());
                                NARROW_OFFSET as i64
                                    * bytes.map(|b| i64::from(b as i8)).sum::<i64>()
                            }
                        };
                        for (i, item) in index.rows().into_iter().enumerate() {
                            let exact = f64::from(dot(item.as_slice().unwrap(), query)) / unit;
                            let score = (i64::from(out[t * width + i]) - shift) as f64;
                            let half = coded.margin[q] / 2.0;
                            assert!(
                                (score - exact).abs() <= half,
                                "{precision:?}, {items} x {dim}, query {q}, item {i}: coded \
                                 {score}, exact {exact}, half the margin {half}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// Vectors wider than Wide codes are coded by neither precision (the margin's f32 term is
    /// only proven up to about 166,000 wide).
    #[test]
    fn too_wide_vectors_get_no_codes() {
        let wide = ndarray::Array2::from_elem((2, 140_000), 0.5f32);
        assert!(Codes::with_precision(wide.view(), 1, Precision::Wide).is_none());
        assert!(Codes::with_precision(wide.view(), 1, Precision::Narrow).is_none());
        let fits = ndarray::Array2::from_elem((2, 120_000), 0.5f32);
        assert!(Codes::with_precision(fits.view(), 1, Precision::Narrow).is_some());
    }

    /// Narrow codes are kept for evenly spread items and give way to Wide where one item's
    /// outlying component makes the common 8-bit scale coarse, whatever this CPU runs.
    #[test]
    fn coarse_narrow_codes_give_way_to_wide() {
        let mut items = vectors(2000, 64, 1);
        items[[3, 0]] = 1.0; // no outlier: every component in [-1, 1)
        let even = Codes::with_precision(items.view(), 1, Precision::Narrow).unwrap();
        let ratio = even.item_to_query_error(items.view());
        assert!(ratio < NARROW_MAX_ERROR_RATIO, "{ratio}");
        items[[3, 0]] = 16.0;
        let coarse = Codes::with_precision(items.view(), 1, Precision::Narrow).unwrap();
        let ratio = coarse.item_to_query_error(items.view());
        assert!(ratio > NARROW_MAX_ERROR_RATIO, "{ratio}");
        let chosen = Codes::new(items.view(), 1).unwrap();
        assert!(matches!(chosen.panels, Panels::Wide(_)));
    }
}
