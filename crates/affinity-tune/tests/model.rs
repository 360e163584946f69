//! Loading checkpoints (prefixes, missing, unexpected, wrong shapes), export, LoRA.

mod common;

use std::collections::BTreeMap;

use affinity_tune::*;
use common::*;
use tch::Tensor;

fn cpu() -> EncoderOptions {
    EncoderOptions {
        device: DeviceChoice::Cpu,
        max_len: Some(32),
        ..Default::default()
    }
}

fn saved_model(dir: &std::path::Path, seed: i64) -> SentenceEncoder {
    let encoder = tiny_encoder(dir, seed, None);
    encoder.save_pretrained(dir).unwrap();
    encoder
}

fn rewrite(dir: &std::path::Path, edit: impl FnOnce(&mut BTreeMap<String, Tensor>)) {
    let path = dir.join("model.safetensors");
    let mut t: BTreeMap<String, Tensor> = Tensor::read_safetensors(&path)
        .unwrap()
        .into_iter()
        .collect();
    edit(&mut t);
    let v: Vec<(String, Tensor)> = t.into_iter().collect();
    Tensor::write_safetensors(&v, &path).unwrap();
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    f64::try_from((a - b).abs().max()).unwrap()
}

#[test]
fn export_round_trips() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let original = saved_model(dir.path(), 1);
    for f in [
        "config.json",
        "vocab.txt",
        "modules.json",
        "1_Pooling/config.json",
        "sentence_bert_config.json",
        "tokenizer_config.json",
    ] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    let loaded = SentenceEncoder::from_dir(dir.path(), &cpu()).unwrap();
    assert_eq!(
        loaded.load_report().loaded,
        original.hf_weights().unwrap().len()
    );
    let texts = ["apple; milk", "bread", "tea; sugar; salt"];
    assert!(
        max_diff(
            &original.embed(&texts).unwrap(),
            &loaded.embed(&texts).unwrap()
        ) < 1e-6
    );
}

#[test]
fn bert_prefix_pooler_and_extras_are_handled() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let original = saved_model(dir.path(), 2);
    rewrite(dir.path(), |t| {
        let old = std::mem::take(t);
        for (n, v) in old {
            t.insert(format!("bert.{n}"), v);
        }
        t.insert(
            "bert.pooler.dense.weight".into(),
            Tensor::zeros([32, 32], tch::kind::FLOAT_CPU),
        );
        t.insert(
            "bert.embeddings.position_ids".into(),
            Tensor::arange(128, tch::kind::INT64_CPU),
        );
        t.insert(
            "cls.predictions.bias".into(),
            Tensor::zeros([83], tch::kind::FLOAT_CPU),
        );
    });
    let loaded = SentenceEncoder::from_dir(dir.path(), &cpu()).unwrap();
    let r = loaded.load_report();
    assert!(r.had_prefix);
    assert_eq!(r.unexpected, vec!["cls.predictions.bias".to_string()]);
    assert_eq!(r.ignored.len(), 2, "{r:?}");
    assert!(
        max_diff(
            &original.embed(&["plum"]).unwrap(),
            &loaded.embed(&["plum"]).unwrap()
        ) < 1e-6
    );
}

#[test]
fn missing_and_misshapen_tensors_are_named() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    saved_model(dir.path(), 3);
    rewrite(dir.path(), |t| {
        t.remove("encoder.layer.1.output.dense.bias");
    });
    match SentenceEncoder::from_dir(dir.path(), &cpu()).unwrap_err() {
        TuneError::MissingTensors { names, .. } => {
            assert_eq!(names, vec!["encoder.layer.1.output.dense.bias".to_string()])
        }
        e => panic!("{e}"),
    }
    saved_model(dir.path(), 3);
    rewrite(dir.path(), |t| {
        t.insert(
            "encoder.layer.0.attention.self.key.weight".into(),
            Tensor::zeros([32, 31], tch::kind::FLOAT_CPU),
        );
    });
    let err = SentenceEncoder::from_dir(dir.path(), &cpu()).unwrap_err();
    assert!(
        matches!(&err, TuneError::ShapeMismatch { name, found, .. } if name == "encoder.layer.0.attention.self.key.weight" && found == &[32, 31]),
        "{err}"
    );
    assert!(err.to_string().contains("model.safetensors"), "{err}");
    std::fs::write(dir.path().join("model.safetensors"), b"not safetensors").unwrap();
    let err = SentenceEncoder::from_dir(dir.path(), &cpu()).unwrap_err();
    assert!(err.to_string().contains("model.safetensors"), "{err}");
    std::fs::write(dir.path().join("config.json"), b"{\"hidden_size\": 30}").unwrap();
    let err = SentenceEncoder::from_dir(dir.path(), &cpu()).unwrap_err();
    assert!(
        matches!(err, TuneError::BadConfig { .. }) && err.to_string().contains("config.json"),
        "{err}"
    );
}

#[test]
fn lora_trains_adapters_only_and_merges_exactly() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let base_dir = dir.path().join("base");
    std::fs::create_dir_all(&base_dir).unwrap();
    saved_model(&base_dir, 4);
    let lora = LoraParams {
        rank: 4,
        alpha: 8.0,
        dropout: 0.0,
        target_modules: vec!["query".into(), "value".into(), "output.dense".into()],
    };
    let mut encoder = SentenceEncoder::from_dir(
        &base_dir,
        &EncoderOptions {
            lora: Some(lora),
            ..cpu()
        },
    )
    .unwrap();
    let base_before = SentenceEncoder::from_dir(&base_dir, &cpu()).unwrap();
    let texts = ["apple; milk", "pear", "coffee; tea"];
    // B starts at zero: the adapted model equals the base.
    assert!(
        max_diff(
            &encoder.embed(&texts).unwrap(),
            &base_before.embed(&texts).unwrap()
        ) < 1e-6
    );

    let params = TrainParams {
        epochs: 2,
        learning_rate: 1e-2,
        ..quick_params()
    };
    Trainer::new(params)
        .unwrap()
        .fit(&mut encoder, &matching_task())
        .unwrap();
    let adapted = encoder.embed(&texts).unwrap();
    assert!(
        max_diff(&adapted, &base_before.embed(&texts).unwrap()) > 1e-3,
        "the adapters changed nothing"
    );

    // Adapters saved on their own reload onto the base.
    let adapter_dir = dir.path().join("adapter");
    encoder.save_adapter(&adapter_dir, &base_dir).unwrap();
    assert!(!adapter_dir.join("model.safetensors").exists());
    let reloaded = SentenceEncoder::from_dir(&adapter_dir, &cpu()).unwrap();
    assert!(max_diff(&adapted, &reloaded.embed(&texts).unwrap()) < 1e-6);
    // The base file itself is untouched: the base is frozen.
    let base_after = SentenceEncoder::from_dir(&base_dir, &cpu()).unwrap();
    assert!(
        max_diff(
            &base_before.embed(&texts).unwrap(),
            &base_after.embed(&texts).unwrap()
        ) == 0.0
    );
    // Int8 codes fold the adapters in: the coded model is nearer the adapted one than the
    // base is. Training refuses int8 (its codes would go stale), and fp32 comes back exactly.
    encoder.set_precision(Precision::Int8).unwrap();
    let coded = encoder.embed(&texts).unwrap();
    let base = base_before.embed(&texts).unwrap();
    assert!(
        max_diff(&coded, &adapted) < max_diff(&coded, &base) / 2.0,
        "int8 {} from the adapted model, {} from the base",
        max_diff(&coded, &adapted),
        max_diff(&coded, &base)
    );
    // Adapters read back from disk in int8 are coded with the adapters in (not the base's).
    let reloaded = SentenceEncoder::from_dir(
        &adapter_dir,
        &EncoderOptions {
            precision: Precision::Int8,
            ..cpu()
        },
    )
    .unwrap();
    assert_eq!(reloaded.precision(), Precision::Int8);
    assert!(max_diff(&coded, &reloaded.embed(&texts).unwrap()) < 1e-6);
    let refused = Trainer::new(quick_params())
        .unwrap()
        .fit(&mut encoder, &matching_task());
    assert!(
        matches!(&refused, Err(TuneError::InvalidSetting(s)) if s.to_string().contains("int8")),
        "{refused:?}"
    );
    encoder.set_precision(Precision::F32).unwrap();
    assert!(max_diff(&adapted, &encoder.embed(&texts).unwrap()) == 0.0);
    // Merging gives the same function as a plain BERT.
    encoder.merge_lora().unwrap();
    assert!(encoder.lora().is_none());
    assert!(max_diff(&adapted, &encoder.embed(&texts).unwrap()) < 1e-5);
    let merged_dir = dir.path().join("merged");
    encoder.save_pretrained(&merged_dir).unwrap();
    let merged = SentenceEncoder::from_dir(&merged_dir, &cpu()).unwrap();
    assert!(max_diff(&adapted, &merged.embed(&texts).unwrap()) < 1e-5);
}

#[test]
fn invalid_lora_settings_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    write_vocab(dir.path());
    let bad = LoraParams {
        target_modules: vec!["attention.nonsense".into()],
        ..LoraParams::default()
    };
    let err = SentenceEncoder::random(
        &BertConfig::tiny(83),
        dir.path(),
        &EncoderOptions {
            lora: Some(bad),
            ..cpu()
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            TuneError::InvalidSetting(affinity_tune::InvalidSetting {
                name: "lora.target_modules",
                ..
            })
        ),
        "{err}"
    );
}

#[test]
fn embeddings_are_unit_vectors_in_input_order() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let encoder = tiny_encoder(dir.path(), 5, None);
    let texts = ["a", "apple; banana; cherry; grape; lemon", "milk", ""];
    let all = encoder.embed(&texts).unwrap();
    let norms = Vec::<f32>::try_from(all.norm_scalaropt_dim(2, [1], false)).unwrap();
    assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-5), "{norms:?}");
    for (i, t) in texts.iter().enumerate() {
        let one = encoder.embed(&[t]).unwrap();
        assert!(max_diff(&one.get(0), &all.get(i as i64)) < 1e-5, "row {i}");
    }
    assert_eq!(encoder.embed::<&str>(&[]).unwrap().size(), [0, 32]);
}

/// A vocabulary cut short (or longer than the embedding table) is refused, naming the file
/// and both sizes; it used to load and quietly change every vector.
#[test]
fn a_vocabulary_that_does_not_match_the_config_is_refused() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    saved_model(dir.path(), 3);
    let vocab = dir.path().join("vocab.txt");
    let full = std::fs::read_to_string(&vocab).unwrap();
    let lines: Vec<&str> = full.lines().collect();
    for kept in [lines.len() - 5, lines.len() + 2] {
        let mut text: Vec<String> = lines.iter().take(kept).map(|s| s.to_string()).collect();
        text.extend((lines.len()..kept).map(|k| format!("extra{k}")));
        std::fs::write(&vocab, text.join("\n") + "\n").unwrap();
        let options = EncoderOptions {
            device: DeviceChoice::Cpu,
            ..Default::default()
        };
        match SentenceEncoder::from_dir(dir.path(), &options) {
            Err(TuneError::BadConfig { path, detail }) => {
                assert_eq!(path, vocab);
                assert!(
                    detail.contains(&format!("{kept} tokens"))
                        && detail.contains(&lines.len().to_string()),
                    "{detail}"
                );
            }
            other => panic!("{kept} lines: {:?}", other.map(|_| ())),
        }
    }
}

/// The export's settings files as they have always been written (keys sorted), so that
/// directories exported before and after compare byte for byte.
#[test]
fn export_writes_the_settings_files_unchanged() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    tiny_encoder(dir.path(), 1, None)
        .save_pretrained(&out)
        .unwrap();
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
    let tokens = r#"  "cls_token": "[CLS]",
  "mask_token": "[MASK]",
  "pad_token": "[PAD]",
  "sep_token": "[SEP]",
  "unk_token": "[UNK]""#;
    assert_eq!(read("special_tokens_map.json"), format!("{{\n{tokens}\n}}"));
    assert_eq!(
        read("sentence_bert_config.json"),
        "{\n  \"do_lower_case\": false,\n  \"max_seq_length\": 32\n}"
    );
    assert_eq!(
        read("1_Pooling/config.json"),
        r#"{
  "pooling_mode_cls_token": false,
  "pooling_mode_max_tokens": false,
  "pooling_mode_mean_sqrt_len_tokens": false,
  "pooling_mode_mean_tokens": true,
  "word_embedding_dimension": 32
}"#
    );
    let module = |i: usize, path: &str, kind: &str| {
        format!(
            "  {{\n    \"idx\": {i},\n    \"name\": \"{i}\",\n    \"path\": \"{path}\",\n    \"type\": \"sentence_transformers.models.{kind}\"\n  }}"
        )
    };
    assert_eq!(
        read("modules.json"),
        format!(
            "[\n{},\n{},\n{}\n]",
            module(0, "", "Transformer"),
            module(1, "1_Pooling", "Pooling"),
            module(2, "2_Normalize", "Normalize")
        )
    );
    let tokenizer = |lower: bool, strip: &str| {
        format!(
            "{{\n  \"cls_token\": \"[CLS]\",\n  \"do_lower_case\": {lower},\n  \"mask_token\": \"[MASK]\",\n  \"model_max_length\": 512,\n  \"pad_token\": \"[PAD]\",\n  \"sep_token\": \"[SEP]\",\n  \"strip_accents\": {strip},\n  \"tokenizer_class\": \"BertTokenizer\",\n  \"unk_token\": \"[UNK]\"\n}}"
        )
    };
    assert_eq!(read("tokenizer_config.json"), tokenizer(true, "null"));

    // A source with its own keys: kept, sorted, and the model's own names win.
    let mut config: serde_json::Value = serde_json::from_str(&read("config.json")).unwrap();
    config["architectures"] = serde_json::json!(["BertForMaskedLM"]);
    config["model_type"] = serde_json::json!("other");
    config["_name_or_path"] = serde_json::json!("somewhere");
    std::fs::write(out.join("config.json"), config.to_string()).unwrap();
    std::fs::write(
        out.join("tokenizer_config.json"),
        r#"{"do_lower_case": false, "strip_accents": true}"#,
    )
    .unwrap();
    std::fs::write(out.join("modules.json"), "[]").unwrap();
    let again = dir.path().join("again");
    SentenceEncoder::from_dir(&out, &cpu())
        .unwrap()
        .save_pretrained(&again)
        .unwrap();
    let read = |name: &str| std::fs::read_to_string(again.join(name)).unwrap();
    assert_eq!(read("tokenizer_config.json"), tokenizer(false, "true"));
    assert_eq!(
        read("modules.json"),
        format!(
            "[\n{},\n{}\n]",
            module(0, "", "Transformer"),
            module(1, "1_Pooling", "Pooling")
        )
    );
    let config = read("config.json");
    assert!(
        config.starts_with("{\n  \"_name_or_path\": \"somewhere\",\n  \"architectures\": [\n    \"BertModel\"\n  ],\n  \"attention_probs_dropout_prob\": 0.1,"),
        "{config}"
    );
    assert!(
        config.contains("\n  \"model_type\": \"bert\",\n"),
        "{config}"
    );
    assert_eq!(config.matches("architectures").count(), 1, "{config}");
}

/// The settings convention: each struct's public `check` names the first bad setting, and the
/// loaders run it before any work (a bad setting read from a file names the file).
#[test]
fn settings_checks_name_the_setting() {
    let named = |r: std::result::Result<(), InvalidSetting>| match r {
        Err(InvalidSetting { name, .. }) => name,
        other => panic!("expected an invalid setting, got {other:?}"),
    };
    let options = |f: fn(&mut EncoderOptions)| {
        let mut o = EncoderOptions::default();
        f(&mut o);
        o
    };
    assert_eq!(named(options(|o| o.batch_size = 0).check()), "batch_size");
    assert_eq!(named(options(|o| o.max_len = Some(0)).check()), "max_len");
    let lora = |f: fn(&mut LoraParams)| {
        let mut l = LoraParams::default();
        f(&mut l);
        EncoderOptions {
            lora: Some(l),
            ..EncoderOptions::default()
        }
    };
    assert_eq!(named(lora(|l| l.rank = 0).check()), "lora.rank");
    assert_eq!(named(lora(|l| l.dropout = 1.0).check()), "lora.dropout");
    assert!(EncoderOptions::default().check().is_ok());
    let config = |f: fn(&mut BertConfig)| {
        let mut c = BertConfig::tiny(100);
        f(&mut c);
        c.check()
    };
    assert_eq!(named(config(|c| c.hidden_size = 30)), "hidden_size");
    assert_eq!(named(config(|c| c.vocab_size = 0)), "vocab_size");
    assert_eq!(
        named(config(|c| c.hidden_act = "swish".into())),
        "hidden_act"
    );
    assert!(config(|_| ()).is_ok());
    assert_eq!(
        named(
            TrainParams {
                epochs: 0,
                ..TrainParams::default()
            }
            .check()
        ),
        "epochs"
    );
    // Checked before the directory is even looked at.
    let err = SentenceEncoder::from_dir("/nonexistent".as_ref(), &options(|o| o.batch_size = 0));
    assert!(
        matches!(
            err,
            Err(TuneError::InvalidSetting(InvalidSetting {
                name: "batch_size",
                ..
            }))
        ),
        "{err:?}"
    );
}

#[test]
fn observed_embedding_reports_every_batch_and_gives_the_same_vectors() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let encoder = tiny_encoder(dir.path(), 5, None);
    let texts: Vec<String> = (0..150)
        .map(|i| format!("plum {}", "apple ".repeat(i % 7)))
        .collect();
    let batches = Batches::default();
    let observed = encoder.embed_observed(&texts, &batches).unwrap();
    let batches = batches.0.into_inner().unwrap();
    assert_eq!(batches.iter().sum::<u64>(), texts.len() as u64);
    assert!(batches.len() > 1, "{batches:?}");
    assert!(observed.equal(&encoder.embed(&texts).unwrap()));
}

/// A config.json that describes a far bigger model than its weights file is refused before
/// anything is allocated (it used to be allocated from the config first).
#[test]
fn a_config_larger_than_its_weights_is_refused_before_allocating() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let encoder = tiny_encoder(dir.path(), 3, None);
    let saved = dir.path().join("saved");
    encoder.save_pretrained(&saved).unwrap();
    assert!(SentenceEncoder::from_dir(&saved, &cpu()).is_ok());
    let path = saved.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    config["num_hidden_layers"] = 100_000.into();
    std::fs::write(&path, config.to_string()).unwrap();
    let err = SentenceEncoder::from_dir(&saved, &cpu()).unwrap_err();
    assert!(
        matches!(&err, TuneError::BadConfig { detail, .. } if detail.contains("weights")),
        "{err}"
    );
    config["num_hidden_layers"] = 2.into();
    config["intermediate_size"] = i64::MAX.into();
    std::fs::write(&path, config.to_string()).unwrap();
    let err = SentenceEncoder::from_dir(&saved, &cpu()).unwrap_err();
    assert!(matches!(&err, TuneError::BadConfig { .. }), "{err}");
}

/// The texts each batch finished, as a progress report hears them.
#[derive(Default)]
struct Batches(std::sync::Mutex<Vec<u64>>);

impl Progress for Batches {
    fn advance(&self, n: u64) {
        self.0.lock().unwrap().push(n);
    }
}
