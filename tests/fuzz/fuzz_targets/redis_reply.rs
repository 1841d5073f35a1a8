//! The Redis reply parser (RESP2) on any bytes a server or a man in the middle could send: it
//! answers a reply and how many bytes it took, "more needed" or an error; never panics, never
//! claims more bytes than it was given, and never recurses without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(used)) = plugin_routes::__fuzz::redis_reply(data) {
        assert!(used <= data.len(), "took {used} of {} bytes", data.len());
        // A reply is whole: the same bytes again parse to the same length.
        assert_eq!(
            plugin_routes::__fuzz::redis_reply(&data[..used]),
            Ok(Some(used))
        );
    }
});
