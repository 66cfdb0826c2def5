//! The trainer's data side as a specification: log reading, the PersuasionForGood
//! converter, and aggregation with its privacy threshold and noise. The simulator
//! built from the aggregates, and evaluation, are in `trainer_sim.rs`.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use talktrack_train::aggregate::split::{aggregate_split, Split};
use talktrack_train::aggregate::{aggregate_log, AggregateConfig, AggregateError, Aggregates};
use talktrack_train::log::p4g::{convert, convert_files, ConvertOptions};
use talktrack_train::log::{Conversation, ReadOptions, Vocab};
use talktrack_train::sim::reference::{p4g_aggregates, p4g_log, p4g_reference_setup};

fn vocab() -> Vocab {
    p4g_reference_setup().unwrap().vocab()
}

#[test]
fn converter_on_fixture_rows_reproduces_the_shipped_log() {
    let (convs, stats) = convert(
        &include_bytes!("fixtures/p4g/annotated_300_dialog.csv")[..],
        &include_bytes!("fixtures/p4g/annotated_300_info.csv")[..],
        &ConvertOptions::default(),
    )
    .unwrap();
    assert_eq!(stats.conversations, 2);
    let log = p4g_log().unwrap();
    let shipped: Vec<&str> = log.lines().take(2).collect();
    for (c, line) in convs.iter().zip(shipped) {
        assert_eq!(serde_json::to_string(c).unwrap(), line);
    }
    // The persuader's own donation (0.25 in the fixture) is not the outcome.
    assert!(!convs[0].outcome.converted);
    assert!(convs[0].context.is_empty());
}

#[test]
fn converter_keeps_the_persuadees_reply_as_text_when_asked() {
    let (convs, stats) = convert(
        &include_bytes!("fixtures/p4g/annotated_300_dialog.csv")[..],
        &include_bytes!("fixtures/p4g/annotated_300_info.csv")[..],
        &ConvertOptions { with_text: true },
    )
    .unwrap();
    assert!(stats.with_text);
    let turns = &convs[0].turns;
    // Turn 0: the persuader greets, the persuadee answers.
    assert_eq!(
        turns[0].text.as_deref(),
        Some("I'm good, how are you doing?")
    );
    assert_eq!(
        turns[1].text.as_deref(),
        Some("Yes! I work with children who have terminal illnesses. What charity are you involved in?")
    );
    // A turn the persuadee did not answer has reply `none` and no text.
    for t in convs.iter().flat_map(|c| &c.turns) {
        assert_eq!(t.reply == "none", t.text.is_none(), "{t:?}");
    }
}

/// Runs `talktrack-train` with `args`: exit code, stdout, stderr.
fn talktrack_train(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_talktrack-train"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn convert_p4g_writes_the_whole_log_or_nothing() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/p4g");
    let dialog = fixtures.join("annotated_300_dialog.csv");
    let info = fixtures.join("annotated_300_info.csv");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("logs/p4g.jsonl");
    let opts = ConvertOptions::default();
    // A missing input: no output file, not even an empty one, nor its directory.
    let missing = tmp.path().join("missing.csv");
    let err = convert_files(&dialog, &missing, &out, &opts).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot read `{}`: ", missing.display())),
        "{err}"
    );
    assert!(!out.parent().unwrap().exists());
    // An input that is not the dialogue file fails before anything is written.
    let err = convert_files(&info, &info, &out, &opts).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`annotated_300_dialog.csv` has no column `Turn`"
    );
    assert!(!out.parent().unwrap().exists());
    // Success: the complete log, and nothing else in its directory.
    let stats = convert_files(&dialog, &info, &out, &opts).unwrap();
    let want: String = p4g_log()
        .unwrap()
        .lines()
        .take(2)
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), want);
    assert_eq!(file_names(out.parent().unwrap()), ["p4g.jsonl"]);
    let summary = stats.to_string();
    assert!(
        summary.starts_with("2 conversations written: "),
        "{summary}"
    );
    assert!(
        summary.contains("skipped: 0 dialogues without"),
        "{summary}"
    );
    assert!(summary.contains("\nmapping: track   = "), "{summary}");
    // A failed run over an existing log leaves it as it was.
    convert_files(&info, &info, &out, &opts).unwrap_err();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), want);
    // A write that fails (the output is a directory) leaves no temporary file behind.
    let err = convert_files(&dialog, &info, out.parent().unwrap(), &opts).unwrap_err();
    assert!(err.to_string().starts_with("cannot write `"), "{err}");
    assert_eq!(file_names(out.parent().unwrap()), ["p4g.jsonl"]);
    assert_eq!(file_names(tmp.path()), ["logs"]);

    // The command line: a readable summary, and no file on failure.
    let cli_out = tmp.path().join("cli.jsonl");
    let arg = |p: &Path| p.as_os_str().to_owned();
    let (code, stdout, stderr) = talktrack_train(&[
        "convert-p4g".as_ref(),
        "--dialogs".as_ref(),
        &arg(&dialog),
        "--info".as_ref(),
        &arg(&info),
        "--out".as_ref(),
        &arg(&cli_out),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("2 conversations written: "), "{stdout}");
    assert!(!stdout.contains("ConvertStats"), "{stdout}");
    assert!(
        stdout.ends_with(&format!("→ {}\n", cli_out.display())),
        "{stdout}"
    );
    assert_eq!(std::fs::read_to_string(&cli_out).unwrap(), want);
    let failed = tmp.path().join("failed.jsonl");
    let (code, _, stderr) = talktrack_train(&[
        "convert-p4g".as_ref(),
        "--dialogs".as_ref(),
        &arg(&dialog),
        "--info".as_ref(),
        &arg(&missing),
        "--out".as_ref(),
        &arg(&failed),
    ]);
    assert_ne!(code, 0);
    assert!(stderr.contains("missing.csv"), "{stderr}");
    assert!(!failed.exists());
}

#[test]
fn empty_log_is_an_error() {
    let err = aggregate_log(
        "\n\n".as_bytes(),
        &vocab(),
        AggregateConfig::default(),
        ReadOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the log has no valid conversation (0 bad lines skipped)"
    );
}

#[test]
fn unknown_tracks_and_missing_outcomes_are_bad_lines() {
    let log = concat!(
        r#"{"id":"a","turns":[{"track":"hard-sell","reply":"refuse"}],"outcome":{"converted":false}}"#,
        "\n",
        r#"{"id":"b","turns":[{"track":"non-strategy","reply":"refuse"}]}"#,
        "\n",
    );
    let err = aggregate_log(
        log.as_bytes(),
        &vocab(),
        AggregateConfig::default(),
        ReadOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the log has no valid conversation (2 bad lines skipped)"
    );
    let strict = ReadOptions {
        strict: true,
        ..ReadOptions::default()
    };
    let err =
        aggregate_log(log.as_bytes(), &vocab(), AggregateConfig::default(), strict).unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 1: turn 0: unknown track `hard-sell` (not in the catalog)"
    );
}

#[test]
fn a_non_utf8_byte_or_an_over_long_line_costs_one_line_not_the_log() {
    let setup = p4g_reference_setup().unwrap();
    let cfg = setup.aggregate.clone();
    let plain = p4g_log().unwrap();
    let mut lines: Vec<Vec<u8>> = plain.lines().map(|l| l.as_bytes().to_vec()).collect();
    // Line 5: a conversation with one Latin-1 byte in its id.
    let mut latin1 = lines[0].clone();
    let at = latin1.iter().position(|&b| b == b':').unwrap() + 3;
    latin1.insert(at, 0xe9);
    lines.insert(4, latin1);
    // Line 8: 5 MB without a line break.
    lines.insert(7, vec![b' '; 5 << 20]);
    let mut log = lines.join(&b'\n');
    log.push(b'\n');
    let opts = ReadOptions {
        max_line_bytes: 64 << 10,
        ..ReadOptions::default()
    };
    let (got, stats) = aggregate_log(log.as_slice(), &vocab(), cfg.clone(), opts.clone()).unwrap();
    let (want, _) = aggregate_log(
        plain.as_bytes(),
        &vocab(),
        cfg.clone(),
        ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(got, want);
    assert_eq!((stats.lines, stats.conversations, stats.bad), (302, 300, 2));
    let reasons: Vec<String> = stats
        .examples
        .iter()
        .map(|b| format!("line {}: {}", b.line, b.reason))
        .collect();
    insta::assert_snapshot!(reasons.join("\n"), @r"
    line 5: not valid UTF-8: byte 0xe9 at column 9 (a log is UTF-8 JSON, one conversation per line)
    line 8: line too long: 5242880 bytes, more than `[data] max_line_bytes` = 65536 (skipped without being read into memory)
    ");
    // Strict mode stops at the first, naming its line.
    let strict = ReadOptions {
        strict: true,
        ..opts
    };
    let err = aggregate_log(log.as_slice(), &vocab(), cfg, strict).unwrap_err();
    assert!(
        err.to_string().starts_with("line 5: not valid UTF-8"),
        "{err}"
    );
}

#[test]
fn lines_that_are_not_conversations_say_what_they_are() {
    let log = concat!(
        "[]\n",
        "null\n",
        "42\n",
        "{\"id\": 1}\n",
        "{\"id\": \"a\"}\n",
        "{\"id\": \"a\", \"turns\": {}}\n",
        "{\"id\": \"a\", \"turns\": [], \"outcome\": true}\n",
        "{\"id\": \"a\", \"turns\": []}\n",
    );
    let err = aggregate_log(
        log.as_bytes(),
        &vocab(),
        AggregateConfig::default(),
        ReadOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the log has no valid conversation (8 bad lines skipped)"
    );
    let v = vocab();
    let mut reader =
        talktrack_train::log::LogReader::new(log.as_bytes(), &v, ReadOptions::default());
    assert_eq!(reader.by_ref().count(), 0);
    let reasons: Vec<String> = reader
        .stats()
        .examples
        .iter()
        .map(|b| format!("line {}: {}", b.line, b.reason))
        .collect();
    insta::assert_snapshot!(reasons.join("\n"), @r"
    line 1: expected a conversation (a JSON object with `id`, `turns` and `outcome`), found an array
    line 2: expected a conversation (a JSON object with `id`, `turns` and `outcome`), found null
    line 3: expected a conversation (a JSON object with `id`, `turns` and `outcome`), found a number
    line 4: conversation `id` must be a string, found a number
    line 5: conversation has no `turns`
    line 6: conversation `turns` must be an array, found an object
    line 7: conversation `outcome` must be an object, found a boolean
    line 8: conversation has no `outcome`
    ");
}

#[test]
fn the_config_bounds_log_lines_for_the_command_line() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tmp = tempfile::tempdir().unwrap();
    let mut log = p4g_log().unwrap().into_bytes();
    log.extend_from_slice(&[b'x'; 3000]);
    log.extend_from_slice(b"\n\xff\n");
    let log_path = tmp.path().join("log.jsonl");
    std::fs::write(&log_path, &log).unwrap();
    let config = tmp.path().join("train.toml");
    let mut text = std::fs::read_to_string(repo.join("configs/p4g_reference.toml")).unwrap();
    text = text.replace(
        "log = \"../data/persuasionforgood/p4g.jsonl\"",
        &format!(
            "log = {:?}\nmax_line_bytes = 2048",
            log_path.display().to_string()
        ),
    );
    text = text.replace(
        "template = \"../policies/persuasion\"",
        &format!(
            "template = {:?}",
            repo.join("policies/persuasion").display().to_string()
        ),
    );
    std::fs::write(&config, text).unwrap();
    let out = tmp.path().join("agg.json");
    let arg = |p: &Path| p.as_os_str().to_owned();
    let (code, stdout, stderr) = talktrack_train(&[
        "aggregate".as_ref(),
        "--config".as_ref(),
        &arg(&config),
        "--out".as_ref(),
        &arg(&out),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("300 conversations aggregated (2 bad lines skipped)"),
        "{stdout}"
    );
    assert!(
        stderr.contains(
            "line 301: line too long: 3000 bytes, more than `[data] max_line_bytes` = 2048"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 302: not valid UTF-8: byte 0xff at column 1"),
        "{stderr}"
    );
    let (code, _, stderr) = talktrack_train(&[
        "aggregate".as_ref(),
        "--config".as_ref(),
        &arg(&config),
        "--out".as_ref(),
        &arg(&out),
        "--strict".as_ref(),
    ]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("line 301: line too long: 3000 bytes"),
        "{stderr}"
    );
    // 0 is refused when the config is read.
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("max_line_bytes = 2048", "max_line_bytes = 0"),
    )
    .unwrap();
    let (code, _, stderr) = talktrack_train(&[
        "aggregate".as_ref(),
        "--config".as_ref(),
        &arg(&config),
        "--out".as_ref(),
        &arg(&out),
    ]);
    assert_ne!(code, 0);
    assert!(stderr.contains("`[data] max_line_bytes` is 0"), "{stderr}");
}

#[test]
fn a_threshold_nothing_reaches_says_what_to_change() {
    let cfg = AggregateConfig {
        k: 1000,
        ..AggregateConfig::default()
    };
    let err = aggregate_log(
        p4g_log().unwrap().as_bytes(),
        &vocab(),
        cfg,
        ReadOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, AggregateError::NothingPublishable { .. }));
    insta::assert_snapshot!(err.to_string(), @"no cell is backed by k = 1000 distinct conversations (the best has 269, from 300 conversations): lower `k` in [aggregate] or aggregate more conversations");
}

#[test]
fn published_cells_respect_k_and_never_hold_conversations() {
    let setup = p4g_reference_setup().unwrap();
    let agg = p4g_aggregates(&setup, setup.aggregate.clone()).unwrap();
    for level in &agg.levels {
        for c in &level.cells {
            assert!(c.conversations >= 5.0);
            let total: f64 = c.next.values().sum();
            assert_eq!(
                c.next.get(&c.most_frequent).copied(),
                c.next.values().copied().reduce(f64::max)
            );
            assert!(total >= c.conversations);
            assert!((0.0..=1.0).contains(&c.conversion_rate));
        }
    }
    assert!(agg.behaviour.iter().all(|b| b.conversations >= 5.0));
    let json = agg.to_json();
    assert!(
        !json.contains("_live"),
        "a conversation id leaked into the aggregates"
    );
    // Means may differ in the last bit through JSON; counts are integers and exact.
    let back = Aggregates::from_json(&json).unwrap();
    assert_eq!(back.behaviour, agg.behaviour);
    for (a, b) in back.levels.iter().zip(&agg.levels) {
        assert_eq!(a.cells.len(), b.cells.len());
        for (x, y) in a.cells.iter().zip(&b.cells) {
            assert_eq!(x.next, y.next);
            assert!((x.mean_value - y.mean_value).abs() < 1e-12);
        }
    }
}

#[test]
fn noise_is_seeded_and_thresholded_on_noisy_counts() {
    let setup = p4g_reference_setup().unwrap();
    let cfg = AggregateConfig {
        epsilon: Some(50.0),
        noise_seed: 7,
        ..setup.aggregate.clone()
    };
    let a = p4g_aggregates(&setup, cfg.clone()).unwrap();
    let b = p4g_aggregates(&setup, cfg).unwrap();
    assert_eq!(a, b);
    let exact = p4g_aggregates(&setup, setup.aggregate.clone()).unwrap();
    assert_ne!(a.levels, exact.levels);
    let coarse = |x: &Aggregates| x.levels[2].cells.len();
    assert_eq!(
        coarse(&a),
        coarse(&exact),
        "every track is well backed at the coarsest level"
    );
    assert!(a
        .levels
        .iter()
        .flat_map(|l| &l.cells)
        .all(|c| c.conversations >= 5.0));
}

#[test]
fn split_is_about_80_20_and_stable() {
    let split = Split::default();
    let ids: Vec<String> = (0..1000).map(|i| format!("conv-{i}")).collect();
    let held = ids.iter().filter(|id| split.is_holdout(id)).count();
    assert!((150..=250).contains(&held), "{held}");
    let setup = p4g_reference_setup().unwrap();
    let s = aggregate_split(
        p4g_log().unwrap().as_bytes(),
        &setup.vocab(),
        setup.aggregate.clone(),
        ReadOptions::default(),
        split,
    )
    .unwrap();
    assert_eq!(s.train.conversations + s.holdout.conversations, 300.0);
    assert!(
        (40.0..=80.0).contains(&s.holdout.conversations),
        "{}",
        s.holdout.conversations
    );
}

/// The shipped log with a `segment` context attribute on every conversation.
fn log_with_segments() -> Vec<String> {
    p4g_log()
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let mut c: Conversation = serde_json::from_str(line).unwrap();
            c.context
                .insert("segment".into(), ["a", "b", "c"][i % 3].into());
            serde_json::to_string(&c).unwrap()
        })
        .collect()
}

#[test]
fn a_repeated_conversation_counts_once_and_is_reported_with_its_line() {
    let setup = p4g_reference_setup().unwrap();
    let cfg = AggregateConfig {
        context_attributes: vec!["segment".into()],
        ..setup.aggregate.clone()
    };
    let aggregate =
        |log: &str, opts: ReadOptions| aggregate_log(log.as_bytes(), &vocab(), cfg.clone(), opts);
    let plain_lines = log_with_segments();
    let first = plain_lines[0].clone();
    let id = first.split('"').nth(3).unwrap().to_string();
    // One conversation five times is one distinct conversation: nothing reaches k = 5.
    let err = aggregate(&format!("{first}\n").repeat(5), ReadOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            AggregateError::NothingPublishable {
                best: 1,
                conversations: 1,
                ..
            }
        ),
        "{err}"
    );
    // The log with its first conversation repeated after line 10 and twice at the end
    // publishes exactly what the log without the repeats publishes: cells, behaviour
    // and context marginals.
    let plain = plain_lines.join("\n");
    let mut lines = plain_lines.clone();
    lines.insert(10, first.clone());
    lines.extend([first.clone(), first.clone()]);
    let with_dups = lines.join("\n");
    let (want, want_stats) = aggregate(&plain, ReadOptions::default()).unwrap();
    let (got, stats) = aggregate(&with_dups, ReadOptions::default()).unwrap();
    assert_eq!(want_stats.bad, 0);
    assert_eq!(want.context_marginals["segment"].len(), 3);
    assert_eq!(got, want);
    assert_eq!((stats.conversations, stats.bad), (300, 3));
    let bad_lines: Vec<u64> = stats.examples.iter().map(|b| b.line).collect();
    assert_eq!(bad_lines, [11, 302, 303]);
    assert_eq!(
        stats.examples[0].reason,
        format!("duplicate conversation id `{id}` (first seen at line 1)")
    );
    // Split: each side holds the same conversations as without the repeats.
    let split = |log: &str| {
        aggregate_split(
            log.as_bytes(),
            &vocab(),
            cfg.clone(),
            ReadOptions::default(),
            Split::default(),
        )
        .unwrap()
    };
    let (a, b) = (split(&plain), split(&with_dups));
    assert_eq!((a.train, a.holdout), (b.train, b.holdout));
    // Strict mode stops at the first repeat.
    let strict = ReadOptions {
        strict: true,
        ..ReadOptions::default()
    };
    assert_eq!(
        aggregate(&with_dups, strict).unwrap_err().to_string(),
        format!("line 11: duplicate conversation id `{id}` (first seen at line 1)")
    );
}
