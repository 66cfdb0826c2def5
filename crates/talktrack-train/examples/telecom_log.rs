//! Writes the synthetic telecom log the `configs/telecom.toml` training config reads:
//! `cargo run -p talktrack-train --example telecom_log -- data/telecom-synthetic/telecom.jsonl 2000`.

use std::io::BufWriter;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "data/telecom-synthetic/telecom.jsonl".into());
    let n = args.next().and_then(|s| s.parse().ok()).unwrap_or(2000);
    let mut out = BufWriter::new(std::fs::File::create(&path)?);
    talktrack_train::log::telecom::write(n, 20261126, &mut out)?;
    println!("wrote {n} synthetic conversations to {path}");
    Ok(())
}
