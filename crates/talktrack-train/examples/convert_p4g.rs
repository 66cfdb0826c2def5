//! Converts the PersuasionForGood annotated corpus into a talktrack conversation log:
//! `cargo run --features train --example convert_p4g -- <corpus dir> <out.jsonl>`.

use std::path::PathBuf;

use talktrack_train::log::p4g::{convert_files, ConvertOptions};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "../shared/data/persuasionforgood".into()),
    );
    let out = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "data/persuasionforgood/p4g.jsonl".into()),
    );
    let stats = convert_files(
        &dir.join("annotated_300_dialog.csv"),
        &dir.join("annotated_300_info.csv"),
        &out,
        &ConvertOptions::default(),
    )?;
    println!("{stats}\n→ {}", out.display());
    Ok(())
}
