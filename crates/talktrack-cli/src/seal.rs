//! `talktrack seal` and `talktrack keygen`: a bundle's policy checksum, its signature, and the keys that sign.

use std::path::Path;
use std::process::ExitCode;

use talktrack::render;

/// `talktrack keygen`: a new ed25519 key pair, never overwriting one.
pub(crate) fn keygen(name: &Path) -> Result<(), ExitCode> {
    let mut seed = [0u8; 32];
    if let Err(e) = getrandom::fill(&mut seed) {
        eprintln!("error: no randomness for a new key: {e}");
        return Err(ExitCode::FAILURE);
    }
    let key = talktrack::tooling::SignKey::from_seed(seed);
    let private = name.with_extension("key");
    let public = name.with_extension("pub");
    for p in [&private, &public] {
        if p.exists() {
            eprintln!("error: `{}` exists; not overwriting a key", p.display());
            return Err(ExitCode::FAILURE);
        }
    }
    let write = |p: &Path, text: String, secret: bool| -> std::io::Result<()> {
        use std::io::Write as _;
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        if secret {
            use std::os::unix::fs::OpenOptionsExt as _;
            o.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = secret;
        o.open(p)?.write_all(text.as_bytes())
    };
    let vk = key.verify_key();
    write(&private, key.to_file_text(), true)
        .and_then(|()| write(&public, vk.to_file_text(), false))
        .map_err(|e| {
            eprintln!("error: cannot write the key: {e}");
            ExitCode::FAILURE
        })?;
    say!(
        "wrote `{}` (private: keep it secret) and `{}` (public key {})",
        private.display(),
        public.display(),
        vk.to_hex()
    );
    Ok(())
}

/// `talktrack seal [--sign-key]`.
pub(crate) fn seal(bundle: &Path, sign_key: Option<&Path>) -> Result<(), ExitCode> {
    match talktrack::tooling::seal(bundle) {
        Err(e) => {
            eprint!("{}", render(&e.problems));
            eprintln!("error: `{}` was not sealed", bundle.display());
            Err(ExitCode::FAILURE)
        }
        Ok(s) if s.unchanged() => {
            say!(
                "unchanged: `{}` has SHA-256 {}, as bundle.toml says",
                s.policy.display(),
                s.after
            );
            Ok(())
        }
        Ok(s) => {
            let before = if s.before.is_empty() {
                "unset".to_owned()
            } else {
                s.before
            };
            say!(
                "sealed: bundle.toml `policy.sha256` = {} (was {before}), the SHA-256 of `{}`",
                s.after,
                s.policy.display()
            );
            Ok(())
        }
    }?;
    let Some(path) = sign_key else {
        return Ok(());
    };
    let key = talktrack::tooling::SignKey::read(path).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::FAILURE
    })?;
    match talktrack::tooling::sign(bundle, &key) {
        Ok(s) => {
            say!(
                "signed: `{}` signs digest {} with key {}",
                s.file.display(),
                s.digest,
                s.key
            );
            Ok(())
        }
        Err(e) => {
            eprint!("{}", render(&e.problems));
            eprintln!("error: `{}` was not signed", bundle.display());
            Err(ExitCode::FAILURE)
        }
    }
}
