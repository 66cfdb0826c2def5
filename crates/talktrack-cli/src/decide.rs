//! `talktrack decide`: one request through a bundle, as JSON, an explanation or a trace.

use std::path::Path;
use std::process::ExitCode;

use talktrack::tooling::escape_controls;
use talktrack::{Engine, Request, MAX_REQUEST_BYTES};

/// `talktrack decide`: prints the decision, its explanation (`--explain`) and the trace (`--trace`).
pub(crate) fn decide(
    bundle: &Path,
    request: &Path,
    explain: bool,
    trace: bool,
) -> Result<(), ExitCode> {
    let b = crate::load(bundle)?;
    let text = if request.as_os_str() == "-" {
        read_request(std::io::stdin())
    } else {
        // A regular file only (never a FIFO or a device), read no further than the limit.
        talktrack::tooling::read_bounded(request, MAX_REQUEST_BYTES as u64)
            .map_err(std::io::Error::other)
            .and_then(|bytes| read_request(&bytes[..]))
    }
    .map_err(|e| {
        eprintln!("error: cannot read `{}`: {e}", request.display());
        ExitCode::FAILURE
    })?;
    // The request's own text (ids, attribute names) reaches the terminal
    // only with its control characters escaped.
    let refused = |e: talktrack::DecideError| {
        eprintln!(
            "error: {}: {}",
            escape_controls(&request.to_string_lossy()),
            escape_controls(&e.to_string())
        );
        ExitCode::FAILURE
    };
    let req = Request::from_json_bytes(&text).map_err(refused)?;
    let d = Engine::with_bundle(b).decide(&req).map_err(refused)?;
    if trace {
        let t = talktrack::tooling::Trace::of(&d, &req).map_err(refused)?;
        say_raw!("{t}");
    }
    if explain {
        say_raw!("{}", d.explain());
    } else {
        match serde_json::to_string_pretty(&d) {
            Ok(j) => say!("{j}"),
            Err(e) => {
                eprintln!("error: {e}");
                return Err(ExitCode::FAILURE);
            }
        }
    }
    Ok(())
}

/// Reads a request, refusing it after [`MAX_REQUEST_BYTES`] without reading the
/// rest; whether it is UTF-8 is for [`Request::from_json_bytes`] to say (with the
/// offset of the bad byte).
fn read_request(r: impl std::io::Read) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut text = Vec::new();
    r.take(MAX_REQUEST_BYTES as u64 + 1)
        .read_to_end(&mut text)?;
    if text.len() > MAX_REQUEST_BYTES {
        return Err(std::io::Error::other(format!(
            "the request is more than the {MAX_REQUEST_BYTES} bytes allowed"
        )));
    }
    Ok(text)
}
