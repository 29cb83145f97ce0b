//! The SSE framer and the chunk parser on arbitrary bytes, split at an arbitrary point: no
//! panic, every event within the size limit, and the same events whichever way it is split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_soak::client::sse::Framer;
use llm_soak::openai::StreamChunk;

fn events(parts: &[&[u8]], limit: usize) -> Vec<Result<(Vec<u8>, bool), ()>> {
    let mut f = Framer::new(limit);
    let mut out = Vec::new();
    for p in parts {
        f.feed(p);
        while let Some(e) = f.next_event() {
            let failed = e.is_err();
            out.push(e.map(|e| (e.data.to_vec(), e.error)).map_err(|_| ()));
            if failed {
                return out;
            }
        }
    }
    f.finish();
    out
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let split = usize::from(data[0]) % data.len();
    let body = &data[1..];
    let split = split.min(body.len());
    let limit = 4096;
    let whole = events(&[body], limit);
    let halves = events(&[&body[..split], &body[split..]], limit);
    assert_eq!(whole, halves, "framing depends on how the bytes arrived");
    for e in whole.iter().flatten() {
        assert!(e.0.len() <= limit);
        if let Ok(chunk) = serde_json::from_slice::<StreamChunk<'_>>(&e.0) {
            let mut text = String::new();
            let _ = chunk.content(&mut text);
        }
    }
});
