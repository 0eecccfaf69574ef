//! Any text as an API time, a duration, an Authorization header or a label value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tencentcloud_ssl_exporter::metrics::snapshot::escape_label_value;
use tencentcloud_ssl_exporter::{duration, signing, timefmt};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(unix) = timefmt::parse_gmt8(text) {
        assert_eq!(timefmt::parse_gmt8(&timefmt::format_gmt8(unix)), Some(unix));
    }
    let _ = timefmt::parse_api_time(text);
    if let Ok(d) = duration::parse_duration(text) {
        assert_eq!(
            duration::parse_duration(&duration::format_duration(d)),
            Ok(d)
        );
    }
    let _ = signing::parse_authorization(text);
    let escaped = escape_label_value(text);
    assert!(!escaped.contains('\n'));
});
