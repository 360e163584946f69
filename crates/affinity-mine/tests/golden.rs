//! Reference counts from `shared/datasets/SOURCES.md`. Each test skips cleanly (and says so)
//! when the datasets folder is not beside the checkout.

use affinity_mine::{mine_itemsets, Algorithm, CountSink, MinSupport, MiningParams, Target};
use std::path::PathBuf;

/// The set through affinity-data's FIMI reader (the one the CLI uses), or `None` with a
/// message when the datasets folder is absent.
fn fimi(name: &str) -> Option<Vec<Vec<u32>>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/datasets/fimi")
        .join(name);
    if !path.is_file() {
        eprintln!("skipped: {} not found", path.display());
        return None;
    }
    let options = affinity_data::LoadOptions::default();
    let (tx, _) =
        affinity_data::read_transactions(&path, affinity_data::TransactionFile::Fimi, &options)
            .unwrap();
    Some(tx.baskets)
}

fn count(tx: &[Vec<u32>], params: MiningParams) -> u64 {
    let mut sink = CountSink::default();
    mine_itemsets(tx, None, &params, Algorithm::FpGrowth, &mut sink)
        .unwrap()
        .itemsets
}

#[test]
fn mushroom_frequent_closed_maximal() {
    let Some(tx) = fimi("mushroom.dat") else {
        return;
    };
    let p = MiningParams::new(MinSupport::fraction("0.1").unwrap());
    assert_eq!(p.min_support.min_count(tx.len() as u64), 813);
    assert_eq!(count(&tx, p.clone()), 574_431);
    assert_eq!(count(&tx, p.clone().threads(2)), 574_431);
    assert_eq!(count(&tx, p.clone().target(Target::Closed)), 4_885);
    assert_eq!(count(&tx, p.target(Target::Maximal)), 547);
}

#[test]
fn chess_retail_and_t10() {
    if let Some(tx) = fimi("chess.dat") {
        assert_eq!(
            count(&tx, MiningParams::new(MinSupport::fraction("0.6").unwrap())),
            254_944
        );
        assert_eq!(
            count(
                &tx,
                MiningParams::new(MinSupport::fraction("0.5").unwrap()).threads(2)
            ),
            1_272_932
        );
    }
    if let Some(tx) = fimi("retail.dat") {
        assert_eq!(
            count(
                &tx,
                MiningParams::new(MinSupport::fraction("0.001").unwrap())
            ),
            7_589
        );
        assert_eq!(count(&tx, MiningParams::new(MinSupport::Count(45))), 19_242);
        assert_eq!(
            count(
                &tx,
                MiningParams::new(MinSupport::fraction("0.0001").unwrap()).threads(2)
            ),
            240_852
        );
    }
    if let Some(tx) = fimi("T10I4D100K.dat") {
        assert_eq!(
            count(
                &tx,
                MiningParams::new(MinSupport::fraction("0.001").unwrap())
            ),
            27_532
        );
    }
}
