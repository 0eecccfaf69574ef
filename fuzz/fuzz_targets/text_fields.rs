//! Any text as an API time, a duration, an Authorization header or a label value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tencentcloud_ssl_api::time;
use tencentcloud_ssl_exporter::duration;
use tencentcloud_ssl_exporter::metrics::escape_label_value;
use tencentcloud_ssl_simulator::{auth, clock};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The exporter's parser and the simulator's formatter, written apart, agree.
    if let Some(unix) = time::parse_gmt8(text) {
        assert_eq!(time::parse_gmt8(&clock::beijing(unix)), Some(unix));
    }
    let _ = time::parse_api_time(text);
    if let Ok(d) = duration::parse_duration(text) {
        assert_eq!(
            duration::parse_duration(&duration::format_duration(d)),
            Ok(d)
        );
    }
    let _ = auth::parse_authorization(text);
    let escaped = escape_label_value(text);
    assert!(!escaped.contains('\n'));
});
