//! The config file: any text either parses into settings or gives an error that names the key;
//! resolving it (rules, limits, throttle, checks, TLS) never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use replaygate::config::{ConfigFile, Overrides};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = ConfigFile::parse(text) else {
        return;
    };
    if let Err(error) = file.resolve(Overrides::default()) {
        let _ = error.to_string();
    }
});
