//! Basket CSVs (one basket of comma-separated names per line): the input is the file.
#![no_main]

use affinity_data::{Format, TransactionFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    affinity_fuzz::fuzz_transaction_file(data, TransactionFile::Baskets, &Format::Baskets);
});
