//! Shared pieces of the fuzz targets: a byte reader that never fails (missing bytes read as
//! zero, so every input decodes to something), the small-database decoder used by the mining
//! targets, and the checks run on every loaded dataset.

use affinity_data::{Dataset, LoadReport, Result as DataResult};

/// Reads the fuzz input front to back; past the end every byte is zero.
pub struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { data }
    }

    /// The next byte, or 0 past the end.
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// Two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from(self.byte()) | u16::from(self.byte()) << 8
    }

    /// Whether any byte is left.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.data
    }
}

/// Most transactions a decoded database has.
pub const MAX_TRANSACTIONS: usize = 24;
/// Item ids are below this.
pub const ITEMS: u32 = 12;
/// Longest decoded transaction (before duplicates are merged).
pub const MAX_TRANSACTION_LEN: u8 = 8;

/// A small transaction database with optional integer weights (1 to 3).
#[derive(Debug, Clone)]
pub struct Database {
    /// Item ids per transaction; may repeat an item.
    pub transactions: Vec<Vec<u32>>,
    /// One weight per transaction, when weighted.
    pub weights: Option<Vec<u64>>,
}

impl Database {
    /// Decodes a database: a count byte, then per transaction a length byte, that many item
    /// bytes and a weight byte (used when `weighted`). Stops early when the input runs out.
    pub fn decode(bytes: &mut Bytes, weighted: bool) -> Self {
        Self::decode_up_to(bytes, weighted, MAX_TRANSACTION_LEN)
    }

    /// As [`Database::decode`], with transactions of at most `max_len` items.
    pub fn decode_up_to(bytes: &mut Bytes, weighted: bool, max_len: u8) -> Self {
        let n = usize::from(bytes.byte()) % (MAX_TRANSACTIONS + 1);
        let mut transactions = Vec::with_capacity(n);
        let mut weights = Vec::with_capacity(n);
        for _ in 0..n {
            if bytes.is_empty() {
                break;
            }
            let len = bytes.byte() % (max_len + 1);
            let tx: Vec<u32> = (0..len).map(|_| u32::from(bytes.byte()) % ITEMS).collect();
            transactions.push(tx);
            weights.push(u64::from(bytes.byte() % 3) + 1);
        }
        Database {
            transactions,
            weights: weighted.then_some(weights),
        }
    }

    /// The weights as the miner takes them.
    pub fn weights(&self) -> Option<&[u64]> {
        self.weights.as_deref()
    }

    /// The (weighted) number of transactions.
    pub fn total(&self) -> u64 {
        match &self.weights {
            Some(w) => w.iter().sum(),
            None => self.transactions.len() as u64,
        }
    }

    /// Whether some transaction lists an item twice.
    pub fn has_duplicates(&self) -> bool {
        self.transactions.iter().any(|t| {
            let mut sorted = t.clone();
            sorted.sort_unstable();
            sorted.windows(2).any(|w| w[0] == w[1])
        })
    }
}

/// Panics unless every id in `dataset` was issued by its maps and the catalogue covers every
/// item: later stages index arrays by these ids.
pub fn check_dataset(dataset: &Dataset) {
    let (users, items, orders) = (
        dataset.users.len(),
        dataset.items.len(),
        dataset.orders.len(),
    );
    for (k, e) in dataset.interactions.iter().enumerate() {
        assert!(
            (e.user as usize) < users,
            "interaction {k}: user {} of {users}",
            e.user
        );
        assert!(
            (e.item as usize) < items,
            "interaction {k}: item {} of {items}",
            e.item
        );
        if let Some(o) = e.order {
            assert!(
                (o as usize) < orders,
                "interaction {k}: order {o} of {orders}"
            );
        }
        assert!(e.weight.is_finite(), "interaction {k}: weight {}", e.weight);
    }
    assert_eq!(dataset.catalog.len(), items, "catalogue length");
    for (id, name) in dataset.items.names().iter().enumerate() {
        assert_eq!(
            dataset.items.get(name),
            Some(id as u32),
            "item {name:?} not interned once"
        );
    }
    for (id, name) in dataset.users.names().iter().enumerate() {
        assert_eq!(
            dataset.users.get(name),
            Some(id as u32),
            "user {name:?} not interned once"
        );
    }
}

/// The checks run on one input loaded by `load` strictly and leniently (with the
/// pseudonymisation `key`): any dataset returned is consistent; a strict load that succeeds
/// skipped nothing, and a lenient load of the same input gives the same dataset and report.
pub fn check_strict_and_lenient(
    key: Option<[u8; 32]>,
    load: impl Fn(&affinity_data::LoadOptions) -> DataResult<(Dataset, LoadReport)>,
) {
    let options = |lenient| affinity_data::LoadOptions {
        lenient,
        pseudonymize_key: key,
    };
    let (strict, lenient) = (load(&options(false)), load(&options(true)));
    if let Ok((dataset, report)) = &lenient {
        check_dataset(dataset);
        assert!(
            report.skipped_examples.len() as u64 <= report.skipped_total(),
            "more examples than skipped rows: {report:?}"
        );
    }
    let Ok((strict, strict_report)) = strict else {
        return;
    };
    check_dataset(&strict);
    assert_eq!(
        strict_report.skipped_total(),
        0,
        "a strict load skipped rows"
    );
    let (lenient, lenient_report) = match lenient {
        Ok(ok) => ok,
        Err(e) => panic!("strict load succeeded, lenient failed: {e}"),
    };
    assert_eq!(strict_report, lenient_report, "reports differ");
    assert_eq!(strict.users.names(), lenient.users.names(), "users differ");
    assert_eq!(strict.items.names(), lenient.items.names(), "items differ");
    assert_eq!(
        strict.orders.names(),
        lenient.orders.names(),
        "orders differ"
    );
    assert_eq!(strict.has_users, lenient.has_users);
    assert_eq!(
        strict.catalog.entries(),
        lenient.catalog.entries(),
        "catalogues differ"
    );
    // Bitwise on weights: the same row gives the same event.
    let key = |d: &Dataset| -> Vec<_> {
        d.interactions
            .iter()
            .map(|e| {
                (
                    e.user,
                    e.item,
                    e.timestamp,
                    e.kind,
                    e.weight.to_bits(),
                    e.order,
                )
            })
            .collect()
    };
    assert_eq!(key(&strict), key(&lenient), "interactions differ");
}

/// A 32-byte pseudonymisation key from one byte, or none when the byte is even.
pub fn key_from(byte: u8) -> Option<[u8; 32]> {
    (byte & 1 == 1).then_some([byte; 32])
}

/// The basket-file targets: `data` as a file read by [`affinity_data::read_transactions`] and
/// by [`affinity_data::load`], strictly and leniently.
pub fn fuzz_transaction_file(
    data: &[u8],
    layout: affinity_data::TransactionFile,
    format: &affinity_data::Format,
) {
    use affinity_data::{load, read_transactions, LoadOptions};
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), data).expect("write temp file");
    let strict = LoadOptions::default();
    let lenient = LoadOptions {
        lenient: true,
        ..LoadOptions::default()
    };

    let read = |options| read_transactions(file.path(), layout, options);
    let (tx_strict, tx_lenient) = (read(&strict), read(&lenient));
    if let Ok((tx, report)) = &tx_lenient {
        let n = tx.items.len();
        assert!(
            tx.baskets.iter().flatten().all(|&i| (i as usize) < n),
            "item id out of range"
        );
        assert_eq!(
            tx.baskets.len() as u64 + report.skipped_total(),
            report.rows_read,
            "every line is a basket or a skipped row"
        );
    }
    if let Ok((tx, _)) = &tx_strict {
        let (lenient, _) = tx_lenient
            .as_ref()
            .expect("strict read succeeded, lenient failed");
        assert_eq!(tx.baskets, lenient.baskets);
        assert_eq!(tx.items.names(), lenient.items.names());
    }

    check_strict_and_lenient(None, |options| load(file.path(), format, options));
}
