//! Itemsets written in every format read back exactly, whatever the item names hold: the
//! text form (names that need it JSON-quoted; read with `parse_itemset_line`), JSON lines,
//! and CSV with JSON-array cells.
//!
//! Input: up to 16 itemsets, each a length byte (0 to 4 items), item bytes (below the number
//! of names) and a support byte; then item names separated by 0xFF bytes (UTF-8, lossily;
//! at least one).
#![no_main]

use affinity_fuzz::Bytes;
use affinity_mine::{parse_itemset_line, ItemsetFormat, ItemsetSink, ItemsetWriter};
use libfuzzer_sys::fuzz_target;

type Sets = Vec<(Vec<String>, u64)>;

fn write(names: &[String], sets: &[(Vec<u32>, u64)], format: ItemsetFormat) -> String {
    let mut writer = ItemsetWriter::with_format(Vec::new(), "memory".as_ref(), Some(names), format);
    for (items, support) in sets {
        writer.push(items, *support).unwrap();
    }
    String::from_utf8(writer.finish().unwrap()).expect("the writers write UTF-8")
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = Bytes::new(data);
    let mut raw: Vec<(Vec<u8>, u64)> = Vec::new();
    for _ in 0..(bytes.byte() % 17) {
        let len = bytes.byte() % 5;
        let items = (0..len).map(|_| bytes.byte()).collect();
        raw.push((items, u64::from(bytes.byte())));
    }
    let mut names: Vec<String> = bytes
        .rest()
        .split(|&b| b == 0xFF)
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        return;
    }
    // Itemsets as the miner gives them: distinct ids, ascending.
    let sets: Vec<(Vec<u32>, u64)> = raw
        .into_iter()
        .map(|(items, support)| {
            let mut ids: Vec<u32> = items
                .iter()
                .map(|&b| u32::from(b) % names.len() as u32)
                .collect();
            ids.sort_unstable();
            ids.dedup();
            (ids, support)
        })
        .filter(|(ids, _)| !ids.is_empty())
        .collect();
    let expected: Sets = sets
        .iter()
        .map(|(ids, s)| (ids.iter().map(|&i| names[i as usize].clone()).collect(), *s))
        .collect();

    let text = write(&names, &sets, ItemsetFormat::Text);
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    assert_eq!(lines.len(), sets.len(), "one line per set: {text:?}");
    let read: Sets = lines
        .iter()
        .map(|l| parse_itemset_line(l).unwrap_or_else(|| panic!("unreadable line {l:?}")))
        .collect();
    assert_eq!(read, expected, "text");

    let jsonl = write(&names, &sets, ItemsetFormat::JsonLines);
    let read: Sets = jsonl
        .split_terminator('\n')
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                serde_json::from_value(v["items"].clone()).unwrap(),
                v["support"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(read, expected, "json lines");

    let csv_text = write(&names, &sets, ItemsetFormat::Csv);
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    assert_eq!(reader.headers().unwrap(), vec!["items", "freq"]);
    let read: Sets = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (serde_json::from_str(&r[0]).unwrap(), r[1].parse().unwrap())
        })
        .collect();
    assert_eq!(read, expected, "csv");
});
