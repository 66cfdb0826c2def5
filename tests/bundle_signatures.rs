//! Signed bundles: `bundle.sig` must sign the bundle's current digest with a trusted
//! key; an engine that trusts keys refuses every other bundle with the reason, and
//! the version in service keeps serving.

mod common;

use common::*;
use talktrack::serving::{Reloaded, VerifyKey};
use talktrack::tooling::{sign, SignKey, SIGNATURE_FILE};
use talktrack::{render, Bundle, Engine};

fn bundle(dir: &std::path::Path, rules: &str) {
    write_bundle(
        dir,
        SMALL_MANIFEST,
        &[("main.rules", rules)],
        &constant_policy([2.0, 0.5, 0.0, 0.0]),
    );
}

fn key(seed: u8) -> SignKey {
    SignKey::from_seed([seed; 32])
}

fn refused(dir: &std::path::Path, keys: &[VerifyKey]) -> String {
    let e = Bundle::load(dir).unwrap().verify(keys).unwrap_err();
    assert!(e
        .problems
        .iter()
        .all(|p| p.code.as_str() == "bundle::signature"));
    render(&e.problems)
}

#[test]
fn a_signature_verifies_only_for_its_digest_and_a_trusted_key() {
    let d = tempfile::tempdir().unwrap();
    bundle(d.path(), "");
    let trusted = vec![key(1).verify_key()];
    let unsigned = refused(d.path(), &trusted);

    let signed = sign(d.path(), &key(1)).unwrap();
    let b = Bundle::load(d.path()).unwrap();
    assert_eq!(signed.digest, b.digest());
    assert_eq!(signed.key, key(1).verify_key().to_hex());
    b.verify(&trusted).unwrap();
    // A second trusted key (rotation) does not change that.
    b.verify(&[key(2).verify_key(), key(1).verify_key()])
        .unwrap();
    // No keys: nothing is required.
    b.verify(&[]).unwrap();

    let foreign = refused(d.path(), &[key(2).verify_key()]);

    // Edited after signing: the digest no longer matches.
    std::fs::write(d.path().join("main.rules"), "# edited\n").unwrap();
    let stale = refused(d.path(), &trusted);

    // A signature that does not verify (the right digest and key, bytes altered).
    sign(d.path(), &key(1)).unwrap();
    let path = d.path().join(SIGNATURE_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    let at = text.find("signature = \"").unwrap() + 13;
    let flipped = if &text[at..at + 1] == "0" { "1" } else { "0" };
    let bad = format!("{}{flipped}{}", &text[..at], &text[at + 1..]);
    std::fs::write(&path, bad).unwrap();
    let forged = refused(d.path(), &trusted);

    std::fs::write(&path, "digest = 3\n").unwrap();
    let garbled = refused(d.path(), &trusted);

    insta::assert_snapshot!(format!(
        "{unsigned}\n{foreign}\n{stale}\n{forged}\n{garbled}"
    ));
}

#[test]
fn an_engine_that_trusts_keys_serves_only_signed_bundles() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    bundle(a.path(), "");
    bundle(b.path(), "# version 2\n");
    let keys = vec![key(1).verify_key()];
    assert!(Engine::load_verified(a.path(), keys.clone()).is_err());
    sign(a.path(), &key(1)).unwrap();
    let engine = Engine::load_verified(a.path(), keys).unwrap();
    let first = engine.version().digest;

    // Unsigned, then signed by another key: refused, the first keeps serving.
    assert!(engine.reload_from(b.path()).is_err());
    sign(b.path(), &key(2)).unwrap();
    let e = engine.reload_from(b.path()).unwrap_err();
    assert!(render(&e.problems).contains("not one of the 1 trusted key(s)"));
    assert_eq!(engine.version().digest, first);
    // A challenger is held to the same keys.
    let split = talktrack::serving::Split::new(talktrack::serving::ArmMode::Split, 50.0).unwrap();
    assert!(engine.load_challenger(b.path(), split).is_err());
    assert!(engine.challenger().is_none());

    sign(b.path(), &key(1)).unwrap();
    assert_eq!(engine.reload_from(b.path()).unwrap(), Reloaded::Published);
    assert_ne!(engine.version().digest, first);
}

#[test]
fn key_files_round_trip_and_bad_ones_are_named() {
    let d = tempfile::tempdir().unwrap();
    let k = key(9);
    let pub_file = d.path().join("k.pub");
    let key_file = d.path().join("k.key");
    std::fs::write(&pub_file, k.verify_key().to_file_text()).unwrap();
    std::fs::write(&key_file, k.to_file_text()).unwrap();
    assert_eq!(VerifyKey::read(&pub_file).unwrap(), k.verify_key());
    assert_eq!(
        SignKey::read(&key_file).unwrap().verify_key(),
        k.verify_key()
    );
    std::fs::write(&pub_file, "# only a comment\n").unwrap();
    let e1 = VerifyKey::read(&pub_file).unwrap_err();
    std::fs::write(&pub_file, "abcd\n").unwrap();
    let e2 = VerifyKey::read(&pub_file).unwrap_err();
    std::fs::write(&pub_file, "zz\n").unwrap();
    let e3 = VerifyKey::read(&pub_file).unwrap_err();
    let text = format!("{}\n{}\n{}", e1.message, e2.message, e3.message);
    insta::assert_snapshot!(text);
    assert_eq!(e1.path, pub_file);
}
