//! Long CSVs of events. The first byte picks the settings (delimiter, time format, explicit
//! column names, pseudonymised users); the rest is the file.
#![no_main]

use affinity_data::{load, Format, LongCsv, TimeFormat};
use libfuzzer_sys::fuzz_target;

const TIME_FORMATS: [TimeFormat; 6] = [
    TimeFormat::Auto,
    TimeFormat::Iso,
    TimeFormat::DayMonthYear,
    TimeFormat::MonthDayYear,
    TimeFormat::UnixSeconds,
    TimeFormat::UnixMillis,
];

fuzz_target!(|data: &[u8]| {
    let Some((&settings, body)) = data.split_first() else {
        return;
    };
    let mut spec = LongCsv {
        delimiter: b",;\t|"[usize::from(settings & 3)],
        time_format: TIME_FORMATS[usize::from(settings >> 2 & 7) % TIME_FORMATS.len()],
        ..LongCsv::default()
    };
    if settings & 0x40 != 0 {
        // Named explicitly: these must then exist (the seeds use them).
        spec.user = Some("user".into());
        spec.item = Some("item".into());
        spec.time = Some("time".into());
    }
    let key = affinity_fuzz::key_from(settings >> 7);

    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), body).expect("write temp file");
    let format = Format::Long(spec);
    affinity_fuzz::check_strict_and_lenient(key, |options| load(file.path(), &format, options));
});
