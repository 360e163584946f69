//! UniSRec atomic files. The first byte says which optional files exist (bit 0:
//! `NAME.user2index`, bit 1: `NAME.text`) and whether users are pseudonymised (bit 2); the
//! rest, split at NUL bytes, is `NAME.item2index`, `NAME.user2index`, `NAME.text` and
//! `NAME.test.inter` in that order (a missing part is an empty file).
#![no_main]

use affinity_data::load_unisrec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let mut parts = body.splitn(4, |&b| b == 0);
    let mut next = || parts.next().unwrap_or_default();
    let (item2index, user2index, text, inter) = (next(), next(), next(), next());

    let dir = tempfile::tempdir().expect("temp dir");
    let prefix = dir.path().join("ds");
    let write = |suffix: &str, bytes: &[u8]| {
        std::fs::write(dir.path().join(format!("ds{suffix}")), bytes).expect("write temp file")
    };
    write(".item2index", item2index);
    if flags & 1 != 0 {
        write(".user2index", user2index);
    }
    if flags & 2 != 0 {
        write(".text", text);
    }
    write(".test.inter", inter);

    let key = affinity_fuzz::key_from(flags >> 2 & 1);
    affinity_fuzz::check_strict_and_lenient(key, |options| load_unisrec(&prefix, options));
});
