//! The Quest generator: reproducible, the requested averages, distinct sorted items.

use affinity_data::quest::{QuestGenerator, QuestParams};

fn generate(params: &QuestParams) -> Vec<Vec<u32>> {
    QuestGenerator::new(params).unwrap().collect()
}

fn t10i4(transactions: u64, seed: u64) -> QuestParams {
    QuestParams {
        transactions,
        items: 1000,
        avg_len: 10.0,
        pattern_len: 4.0,
        seed,
        ..QuestParams::default()
    }
}

#[test]
fn the_same_seed_gives_the_same_transactions_and_another_seed_others() {
    let a = generate(&t10i4(2000, 42));
    assert_eq!(a, generate(&t10i4(2000, 42)));
    assert_ne!(a, generate(&t10i4(2000, 43)));
    // A longer run starts with the shorter one: transactions do not depend on the count.
    assert_eq!(generate(&t10i4(3000, 42))[..2000], a[..]);
}

#[test]
fn transactions_have_the_requested_mean_length_and_sorted_distinct_items() {
    for (avg_len, pattern_len, items) in [(10.0, 4.0, 1000), (20.0, 6.0, 2000), (5.0, 2.0, 100)] {
        let params = QuestParams {
            avg_len,
            pattern_len,
            items,
            ..t10i4(20_000, 7)
        };
        let baskets = generate(&params);
        assert_eq!(baskets.len(), 20_000);
        let total: usize = baskets.iter().map(Vec::len).sum();
        let mean = total as f64 / baskets.len() as f64;
        assert!(
            (mean / avg_len - 1.0).abs() <= 0.05,
            "T{avg_len} I{pattern_len} N{items}: mean length {mean}"
        );
        for basket in &baskets {
            assert!(!basket.is_empty());
            assert!(basket.windows(2).all(|w| w[0] < w[1]), "{basket:?}");
            assert!(basket.iter().all(|&i| i < items));
        }
    }
}

#[test]
fn patterns_make_some_itemsets_frequent() {
    // Uniform random baskets of 10 out of 1000 items would hold a given pair in about 0.01 %
    // of them; Quest's patterns make pairs far more frequent than that.
    let baskets = generate(&t10i4(20_000, 3));
    let mut pairs = std::collections::HashMap::<(u32, u32), u32>::new();
    for basket in &baskets {
        for (i, &a) in basket.iter().enumerate() {
            for &b in &basket[i + 1..] {
                *pairs.entry((a, b)).or_default() += 1;
            }
        }
    }
    let top = pairs.values().copied().max().unwrap();
    assert!(top > 200, "the most frequent pair is in {top} baskets");
}

#[test]
fn bad_settings_are_refused_before_any_work() {
    let good = t10i4(10, 1);
    for bad in [
        QuestParams {
            transactions: 0,
            ..good.clone()
        },
        QuestParams {
            items: 0,
            ..good.clone()
        },
        QuestParams {
            avg_len: f64::NAN,
            ..good.clone()
        },
        QuestParams {
            avg_len: 600.0,
            ..good.clone()
        },
        QuestParams {
            pattern_len: -1.0,
            ..good.clone()
        },
        QuestParams {
            items: 10,
            avg_len: 8.0,
            ..good.clone()
        },
        QuestParams {
            patterns: 0,
            ..good.clone()
        },
        QuestParams {
            correlation: 1.5,
            ..good.clone()
        },
        QuestParams {
            corruption_mean: 1.0,
            ..good.clone()
        },
    ] {
        let error = QuestGenerator::new(&bad).err().expect("refused");
        assert!(
            matches!(error, affinity_data::DataError::InvalidSetting(_)),
            "{error}"
        );
    }
}
