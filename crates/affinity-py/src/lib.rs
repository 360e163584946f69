//! The native module `affinity._native` of the `affinity-rs` Python wheel: affinity's
//! libtorch-free core (`affinity-mine`, `affinity-rank`) behind PyO3.
//!
//! Columns cross the language boundary through the Arrow C data interface (no copy, no Python
//! object per item); the GIL is released while mining and ranking. The Python package
//! `affinity` (python/affinity/__init__.py) turns whatever the caller has (pyarrow, pandas,
//! polars, numpy, lists) into the flat Arrow arrays these functions take, and documents the
//! public API; call that, not this module.
//!
//! No `unsafe` here (the workspace denies it): PyO3's macros allow their own FFI glue, and
//! arrow-pyarrow validates every imported array before it is read.

mod error;
mod hash;
mod input;
mod itemsets;
mod output;
mod pfp;
mod settings;
mod topk;

use arrow_array::{make_array, Array, ArrayRef, Float32Array, Int64Array};
use arrow_pyarrow::{FromPyArrow, IntoPyArrow, ToPyArrow};
use pyo3::prelude::*;

pub use error::{CapExceeded, PyBindError, Result};

/// Imports Arrow arrays (anything pyarrow exports, or with `__arrow_c_array__`) without
/// copying their buffers.
fn import(arrays: &Bound<'_, PyAny>) -> PyResult<Vec<ArrayRef>> {
    arrays
        .try_iter()?
        .map(|array| Ok(make_array(FromPyArrow::from_pyarrow_bound(&array?)?)))
        .collect()
}

fn import_optional(arrays: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<ArrayRef>>> {
    arrays.map(import).transpose()
}

/// Frequent, closed or maximal itemsets of baskets (list chunks) as a pyarrow Table.
#[pyfunction]
#[pyo3(signature = (baskets, *, min_support=None, min_count=None, max_len=None,
    target="frequent", threads=None, max_itemsets=Some(settings::DEFAULT_MAX_ITEMSETS as i64),
    duplicates="merge"))]
#[allow(clippy::too_many_arguments)] // Python keyword arguments
fn mine<'py>(
    py: Python<'py>,
    baskets: &Bound<'py, PyAny>,
    min_support: Option<&str>,
    min_count: Option<i64>,
    max_len: Option<i64>,
    target: &str,
    threads: Option<i64>,
    max_itemsets: Option<i64>,
    duplicates: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let params = settings::MineParams {
        min_support,
        min_count,
        max_len,
        target,
        threads,
        max_itemsets,
        duplicates,
    }
    .params()?;
    let chunks = import(baskets)?;
    let table = py.detach(|| itemsets::mine(&chunks, &params))?;
    table.into_pyarrow(py)
}

/// Association rules from every frequent itemset (`items` and `freq` chunks).
#[pyfunction]
#[pyo3(signature = (items, freq, n_transactions, *, min_confidence=0.5, min_lift=None,
    any_consequent=false, max_rules=None))]
#[allow(clippy::too_many_arguments)] // Python keyword arguments
fn rules<'py>(
    py: Python<'py>,
    items: &Bound<'py, PyAny>,
    freq: &Bound<'py, PyAny>,
    n_transactions: i64,
    min_confidence: f64,
    min_lift: Option<f64>,
    any_consequent: bool,
    max_rules: Option<i64>,
) -> PyResult<Bound<'py, PyAny>> {
    let transactions = settings::at_least_one("n_transactions", n_transactions)?;
    let max_rules = max_rules
        .map(|m| settings::at_least_one("max_rules", m))
        .transpose()?;
    let params = itemsets::rule_params(min_confidence, min_lift, any_consequent, max_rules);
    params.check().map_err(PyBindError::from)?;
    let (items, freq) = (import(items)?, import(freq)?);
    let table = py.detach(|| itemsets::rules(&items, &freq, transactions, &params))?;
    table.into_pyarrow(py)
}

/// Exact top-k: flat float32 matrices in, flat (int64 indices, float32 scores) out.
#[pyfunction]
#[pyo3(signature = (vectors, n_items, dim, queries, n_queries, query_dim, k, *, exclude=None,
    history=None, mode="mixed", metric="cosine", threads=None))]
#[allow(clippy::too_many_arguments)] // Python keyword arguments
fn top_k<'py>(
    py: Python<'py>,
    vectors: &Bound<'py, PyAny>,
    n_items: usize,
    dim: usize,
    queries: &Bound<'py, PyAny>,
    n_queries: usize,
    query_dim: usize,
    k: i64,
    exclude: Option<&Bound<'py, PyAny>>,
    history: Option<&Bound<'py, PyAny>>,
    mode: &str,
    metric: &str,
    threads: Option<i64>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let k = settings::top_k(k, n_items)?;
    let mode = settings::mode(mode)?;
    let metric = settings::metric(metric)?;
    let threads = threads
        .map(|t| settings::at_least_one("threads", t))
        .transpose()?
        .map_or(0, |t| t as usize);
    let vectors = make_array(FromPyArrow::from_pyarrow_bound(vectors)?);
    let queries = make_array(FromPyArrow::from_pyarrow_bound(queries)?);
    let exclude = import_optional(exclude)?;
    let history = import_optional(history)?;
    let (indices, scores) = py.detach(|| {
        topk::top_k(
            topk::Matrix {
                values: &vectors,
                rows: n_items,
                cols: dim,
            },
            topk::Matrix {
                values: &queries,
                rows: n_queries,
                cols: query_dim,
            },
            k,
            exclude.as_deref(),
            history.as_deref(),
            mode,
            metric,
            threads,
        )
    })?;
    Ok((
        Int64Array::from(indices).to_data().to_pyarrow(py)?,
        Float32Array::from(scores).to_data().to_pyarrow(py)?,
    ))
}

/// Parallel FP-growth, step 1: each basket's conditional prefixes, one per group met.
#[pyfunction]
fn pfp_shard<'py>(
    py: Python<'py>,
    baskets: &Bound<'py, PyAny>,
    frequent_items: &Bound<'py, PyAny>,
    num_groups: i64,
) -> PyResult<Bound<'py, PyAny>> {
    let (num_groups, _) = pfp::groups(num_groups, None)?;
    let (baskets, frequent) = (import(baskets)?, import(frequent_items)?);
    let batch = py.detach(|| pfp::shard(&baskets, &frequent, num_groups))?;
    batch.to_pyarrow(py)
}

/// Parallel FP-growth, step 2: the itemsets one group owns.
#[pyfunction]
#[pyo3(signature = (prefixes, group, num_groups, min_count, *, max_len=None, threads=1,
    weights=None))]
#[allow(clippy::too_many_arguments)] // Python keyword arguments
fn pfp_mine<'py>(
    py: Python<'py>,
    prefixes: &Bound<'py, PyAny>,
    group: i64,
    num_groups: i64,
    min_count: i64,
    max_len: Option<i64>,
    threads: i64,
    weights: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let (num_groups, group) = pfp::groups(num_groups, Some(group))?;
    let settings = group_settings(group, num_groups, min_count, max_len, threads)?;
    let prefixes = import(prefixes)?;
    let weights = import_optional(weights)?;
    let batch = py.detach(|| pfp::mine(&prefixes, weights.as_deref(), settings))?;
    batch.to_pyarrow(py)
}

/// Parallel FP-growth, step 2 for a group that arrives in batches: the prefixes gathered with
/// identical ones merged, then mined once.
#[pyclass(name = "PfpGroup", module = "affinity._native")]
struct PyPfpGroup {
    group: u32,
    num_groups: u32,
    prefixes: pfp::GroupPrefixes,
}

#[pymethods]
impl PyPfpGroup {
    #[new]
    fn new(group: i64, num_groups: i64) -> PyResult<Self> {
        let (num_groups, group) = pfp::groups(num_groups, Some(group))?;
        Ok(Self {
            group,
            num_groups,
            prefixes: pfp::GroupPrefixes::default(),
        })
    }

    #[pyo3(signature = (prefixes, weights=None))]
    fn add(
        &mut self,
        py: Python<'_>,
        prefixes: &Bound<'_, PyAny>,
        weights: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let (prefixes, weights) = (import(prefixes)?, import_optional(weights)?);
        let gathered = &mut self.prefixes;
        py.detach(|| gathered.add(&prefixes, weights.as_deref()))?;
        Ok(())
    }

    #[getter]
    fn distinct(&self) -> usize {
        self.prefixes.distinct()
    }

    #[pyo3(signature = (min_count, *, max_len=None, threads=1))]
    fn mine<'py>(
        &mut self,
        py: Python<'py>,
        min_count: i64,
        max_len: Option<i64>,
        threads: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let settings = group_settings(self.group, self.num_groups, min_count, max_len, threads)?;
        let gathered = &mut self.prefixes;
        let batch = py.detach(|| gathered.mine(settings))?;
        batch.to_pyarrow(py)
    }
}

fn group_settings(
    group: u32,
    num_groups: u32,
    min_count: i64,
    max_len: Option<i64>,
    threads: i64,
) -> PyResult<pfp::GroupParams> {
    Ok(pfp::GroupParams {
        group,
        num_groups,
        min_count: settings::at_least_one("min_count", min_count)?,
        max_len: max_len
            .map(|l| settings::at_least_one("max_len", l))
            .transpose()?
            .map(|l| l as usize),
        threads: settings::at_least_one("threads", threads)? as usize,
    })
}

/// The module: `affinity._native`.
#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(mine, m)?)?;
    m.add_function(wrap_pyfunction!(rules, m)?)?;
    m.add_function(wrap_pyfunction!(top_k, m)?)?;
    m.add_function(wrap_pyfunction!(pfp_shard, m)?)?;
    m.add_function(wrap_pyfunction!(pfp_mine, m)?)?;
    m.add_class::<PyPfpGroup>()?;
    m.add("CapExceeded", m.py().get_type::<CapExceeded>())?;
    m.add("DEFAULT_MAX_ITEMSETS", settings::DEFAULT_MAX_ITEMSETS)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
