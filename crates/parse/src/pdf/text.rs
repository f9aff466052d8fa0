//! pdf-extract on a file's bytes, in the calling process. The service calls it only in a child
//! process with limits (the binary's `extract-pdf`); the PDF fuzz target calls it directly.

use super::Extraction;

/// pdf-extract on the bytes, in this process: an encrypted file is read only if its user password
/// is empty. Only the binary's PDF child process and the PDF fuzz target call it: pdf-extract can
/// panic, loop or exhaust memory on a hostile file, which the child's limits contain.
pub fn extract_text(bytes: &[u8]) -> Result<Extraction, String> {
    let mut doc = pdf_extract::Document::load_mem(bytes).map_err(|e| format!("not a readable PDF: {e}"))?;
    if doc.is_encrypted() {
        doc.decrypt("").map_err(|_| "the PDF is encrypted (password-protected)".to_string())?;
    }
    let page_ids: Vec<pdf_extract::ObjectId> = doc.get_pages().into_values().collect();
    let pages = u32::try_from(page_ids.len()).unwrap_or(u32::MAX);
    if pages == 0 {
        return Err("the PDF has no pages".into());
    }
    for page in page_ids {
        check_ancestry(&doc, page)?;
    }
    let mut text = String::new();
    {
        let mut output = pdf_extract::PlainTextOutput::new(&mut text);
        pdf_extract::output_doc(&doc, &mut output).map_err(|e| format!("the text cannot be extracted: {e}"))?;
    }
    Ok(Extraction { pages, text })
}

/// The deepest page tree read: real ones are a few levels deep.
const MAX_PAGE_TREE_DEPTH: usize = 64;

/// A page's `/Parent` chain must end, and soon: pdf-extract follows it recursively for inherited
/// attributes, and a page that is its own ancestor (found by fuzzing: one byte changed in a sample)
/// overflowed the stack. Refused here with a reason instead.
fn check_ancestry(doc: &pdf_extract::Document, page: pdf_extract::ObjectId) -> Result<(), String> {
    let mut seen = vec![page];
    let mut node = page;
    while let Some(parent) = doc.get_dictionary(node).ok().and_then(|d| d.get(b"Parent").ok()?.as_reference().ok()) {
        if seen.contains(&parent) {
            return Err(format!("the page tree has a cycle: object {} {} is its own ancestor", parent.0, parent.1));
        }
        if seen.len() > MAX_PAGE_TREE_DEPTH {
            return Err(format!("the page tree is more than {MAX_PAGE_TREE_DEPTH} levels deep"));
        }
        seen.push(parent);
        node = parent;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../sample-exports/2026-11-24/NOTE_MRN57552_ECHO_202611240500.pdf");

    #[test]
    fn a_page_that_is_its_own_ancestor_is_refused_not_followed() {
        // What the fuzzer found (fuzz/artifacts/pdf_text/crash-4f20…): the page's /Parent points
        // at the page itself. The same bytes length, so the cross-reference table still holds.
        let sample = std::fs::read(SAMPLE).expect("sample PDF");
        assert!(extract_text(&sample).is_ok());
        let text = String::from_utf8_lossy(&sample).into_owned();
        let page = text.find("/Type /Page /Parent 2 0 R").expect("the page object");
        let object = text[..page].rfind(" 0 obj").and_then(|end| text[..end].rsplit('\n').next()).expect("its number");
        let cyclic = text.replacen("/Type /Page /Parent 2 0 R", &format!("/Type /Page /Parent {object} 0 R"), 1);
        assert_eq!(cyclic.len(), text.len());
        let error = extract_text(cyclic.as_bytes()).expect_err("a cycle");
        assert_eq!(error, format!("the page tree has a cycle: object {object} 0 is its own ancestor"));
    }

    // The same entry point as the cargo-fuzz target `pdf_text` (the child's work, in process), run
    // here on every `cargo test`: a panic in pdf-extract is one the child catches, so it is caught
    // here too; what must hold is that nothing else panics and a reason comes back.
    proptest::proptest! {
        // A fixed seed: pdf-extract may loop on some input (the child's time limit ends that),
        // and a random one must not hang CI; the soak fuzzing explores beyond these 64.
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 64,
            rng_seed: proptest::test_runner::RngSeed::Fixed(20261201),
            ..proptest::prelude::ProptestConfig::default()
        })]
        #[test]
        fn a_sample_pdf_with_bytes_changed_or_cut_never_takes_the_caller_down(
            at in 0.0f64..1.0,
            cut in proptest::prelude::any::<bool>(),
            byte in proptest::prelude::any::<u8>(),
        ) {
            let sample = std::fs::read(SAMPLE).expect("sample PDF");
            let i = ((sample.len() - 1) as f64 * at) as usize;
            let bytes = if cut { sample[..i].to_vec() } else { let mut b = sample.clone(); b[i] = byte; b };
            if let Ok(Err(reason)) = std::panic::catch_unwind(|| extract_text(&bytes)) {
                proptest::prop_assert!(!reason.is_empty());
            }
        }
    }
}
