//! Client commands: which ones the proxy inspects, and what shape of reply each one gets.

/// The first byte of a client command packet.
pub mod code {
    pub const COM_QUIT: u8 = 0x01;
    pub const COM_INIT_DB: u8 = 0x02;
    pub const COM_QUERY: u8 = 0x03;
    pub const COM_FIELD_LIST: u8 = 0x04;
    pub const COM_PROCESS_INFO: u8 = 0x0a;
    pub const COM_STATISTICS: u8 = 0x09;
    pub const COM_BINLOG_DUMP: u8 = 0x12;
    pub const COM_TABLE_DUMP: u8 = 0x13;
    pub const COM_REGISTER_SLAVE: u8 = 0x15;
    pub const COM_CHANGE_USER: u8 = 0x11;
    pub const COM_STMT_PREPARE: u8 = 0x16;
    pub const COM_STMT_EXECUTE: u8 = 0x17;
    pub const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
    pub const COM_STMT_CLOSE: u8 = 0x19;
    pub const COM_STMT_FETCH: u8 = 0x1c;
    pub const COM_BINLOG_DUMP_GTID: u8 = 0x1e;
    pub const COM_RESET_CONNECTION: u8 = 0x1f;
    pub const COM_STMT_BULK_EXECUTE: u8 = 0xfa;
}

/// The shape of the server's reply to a command, which decides how the response tracker reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyShape {
    /// No reply at all (COM_QUIT, COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA).
    None,
    /// OK, ERR, or one or more result sets, possibly a LOCAL INFILE request.
    ResultSets,
    /// COM_STMT_PREPARE: a prepare-OK followed by parameter and column definitions.
    Prepare,
    /// COM_FIELD_LIST: column definitions ended by EOF.
    FieldList,
    /// COM_STMT_FETCH: rows ended by EOF.
    Rows,
    /// Exactly one packet of any kind (OK, ERR, EOF, or COM_STATISTICS' text).
    Single,
    /// COM_CHANGE_USER: a new authentication exchange.
    Authentication,
}

/// What the proxy does with a command it does not relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsupported {
    /// Replication-stream commands would turn the session into a binlog dump the proxy cannot
    /// inspect or frame.
    ReplicationStream,
}

/// Classifies a command by its first byte.
pub fn reply_shape(command: u8) -> Result<ReplyShape, Unsupported> {
    use code::*;
    Ok(match command {
        COM_QUIT | COM_STMT_CLOSE | COM_STMT_SEND_LONG_DATA => ReplyShape::None,
        COM_QUERY | COM_STMT_EXECUTE | COM_PROCESS_INFO | COM_STMT_BULK_EXECUTE => {
            ReplyShape::ResultSets
        }
        COM_STMT_PREPARE => ReplyShape::Prepare,
        COM_FIELD_LIST => ReplyShape::FieldList,
        COM_STMT_FETCH => ReplyShape::Rows,
        COM_CHANGE_USER => ReplyShape::Authentication,
        COM_BINLOG_DUMP | COM_BINLOG_DUMP_GTID | COM_REGISTER_SLAVE | COM_TABLE_DUMP => {
            return Err(Unsupported::ReplicationStream);
        }
        _ => ReplyShape::Single,
    })
}

/// The statement id a COM_STMT_EXECUTE, CLOSE, RESET or SEND_LONG_DATA names (bytes 1-4).
pub fn statement_id(packet: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(packet.get(1..5)?.try_into().ok()?))
}

/// A short name for logs.
pub fn name(command: u8) -> &'static str {
    use code::*;
    match command {
        COM_QUIT => "COM_QUIT",
        COM_INIT_DB => "COM_INIT_DB",
        COM_QUERY => "COM_QUERY",
        COM_FIELD_LIST => "COM_FIELD_LIST",
        COM_STATISTICS => "COM_STATISTICS",
        COM_CHANGE_USER => "COM_CHANGE_USER",
        COM_STMT_PREPARE => "COM_STMT_PREPARE",
        COM_STMT_EXECUTE => "COM_STMT_EXECUTE",
        COM_STMT_CLOSE => "COM_STMT_CLOSE",
        COM_STMT_FETCH => "COM_STMT_FETCH",
        COM_STMT_BULK_EXECUTE => "COM_STMT_BULK_EXECUTE",
        COM_RESET_CONNECTION => "COM_RESET_CONNECTION",
        0x0e => "COM_PING",
        0x1b => "COM_SET_OPTION",
        _ => "command",
    }
}
