//! The benchmarks' size and round knobs, read from the environment (shared by `replay` and
//! `memory`, included with `#[path]`: `bench/` files are not a crate of their own).

/// The count in environment variable `name` (`_` separators allowed, as in `400_000`), or
/// `default` when it is unset. A value that is not a count stops the run: a typo must not
/// silently measure the default.
pub fn env_or(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|e| panic!("{name}={value:?} is not a count: {e}")),
        Err(_) => default,
    }
}
