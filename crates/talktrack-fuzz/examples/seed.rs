//! Writes a target's seed corpus (from the repository's bundles, requests and
//! logs) into a directory: `cargo run -p talktrack-fuzz --example seed -- rules DIR`.

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(target), Some(dir)) = (args.next(), args.next()) else {
        eprintln!("usage: seed TARGET DIR");
        std::process::exit(2);
    };
    std::fs::create_dir_all(&dir)?;
    for (i, seed) in talktrack_fuzz::seed_corpus(&target).iter().enumerate() {
        std::fs::write(std::path::Path::new(&dir).join(format!("seed-{i}")), seed)?;
    }
    Ok(())
}
