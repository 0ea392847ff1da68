//! What can be wrong with a binlog event or file. Decoding never panics: every malformed input
//! becomes one of these, and the caller says where (file, position) it was found.

/// Why bytes could not be read as a binlog event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{what} is cut short: {needed} bytes needed, {available} left")]
    Truncated {
        what: &'static str,
        needed: usize,
        available: usize,
    },
    #[error("{what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error(
        "checksum mismatch: the event carries CRC32 {stored:#010x} but its bytes give {computed:#010x} \
         (corrupted in the file or in transit)"
    )]
    Checksum { stored: u32, computed: u32 },
    #[error("compressed {what} cannot be decompressed: {detail}")]
    Compression { what: &'static str, detail: String },
}

impl DecodeError {
    pub(crate) fn malformed(what: &'static str, detail: impl Into<String>) -> Self {
        DecodeError::Malformed {
            what,
            detail: detail.into(),
        }
    }
}
