//! Converts the PersuasionForGood annotated corpus into a talktrack conversation log:
//! `cargo run --features train --example convert_p4g -- <corpus dir> <out.jsonl>`.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use talktrack::log::p4g::{convert_to_jsonl, ConvertOptions};

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
    let stats = convert_to_jsonl(
        File::open(dir.join("annotated_300_dialog.csv"))?,
        File::open(dir.join("annotated_300_info.csv"))?,
        &ConvertOptions::default(),
        BufWriter::new(File::create(&out)?),
    )?;
    println!("{}", serde_json::to_string_pretty(&stats)?);
    Ok(())
}
