//! Quick check of counts on a FIMI file: `cargo run --release -p affinity-mine --example golden -- FILE MINCOUNT [threads] [target]`.
use affinity_mine::*;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(&args[1]).unwrap();
    let tx: Vec<Vec<u32>> = text
        .lines()
        .map(|l| {
            l.split_ascii_whitespace()
                .map(|t| t.parse().unwrap())
                .collect()
        })
        .collect();
    let threads = args.get(3).map_or(1, |t| t.parse().unwrap());
    let target = match args.get(4).map(String::as_str) {
        Some("closed") => Target::Closed,
        Some("maximal") => Target::Maximal,
        _ => Target::Frequent,
    };
    let params = MiningParams::new(MinSupport::Count(args[2].parse().unwrap()))
        .threads(threads)
        .target(target);
    let t = std::time::Instant::now();
    let mut sink = CountSink::default();
    let s = mine_itemsets(&tx, None, &params, Algorithm::FpGrowth, &mut sink).unwrap();
    println!(
        "{} itemsets in {:.3}s",
        s.itemsets,
        t.elapsed().as_secs_f64()
    );
}
