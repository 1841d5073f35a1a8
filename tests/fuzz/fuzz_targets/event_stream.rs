//! The typed client's event-stream splitter on any bytes a server could send: every event is
//! taken whole, and the same bytes split the same way however they arrive.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let events = plugin_routes::__fuzz::events(data);
    for (name, _) in &events {
        assert!(!name.contains('\n'), "a name spans lines: {name:?}");
    }
    // Only whole events (ended by a blank line) come out: the bytes after the last one add none.
    if let Some(end) = data.windows(2).rposition(|w| w == b"\n\n") {
        assert_eq!(plugin_routes::__fuzz::events(&data[..end + 2]), events);
    } else {
        assert!(events.is_empty());
    }
});
