//! Knowing when the server has finished answering a command.
//!
//! The proxy relays every response packet untouched, but it must know where a response ends: to
//! flush at the right moment, to answer the next command, to see the LOCAL INFILE request that
//! hands the turn back to the client, and to learn the outcome (how many statements succeeded, the
//! error if one failed, the session status flags). [`ResponseTracker`] is a pure state machine fed
//! one packet at a time, so every shape of response is unit-tested without a server.

use mysql_common::constants::{CapabilityFlags, StatusFlags};
use mysql_common::io::ParseBuf;
use mysql_common::packets::{
    CommonOkPacket, OkPacketDeserializer, ResultSetTerminator, ServerError,
};

use super::ProtocolError;
use super::command::ReplyShape;

/// An error the server answered with, kept for logs and for the session's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerErrorInfo {
    pub code: u16,
    pub sql_state: String,
    pub message: String,
}

/// How a command's response ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Results that completed without error (one per statement of a multi-statement query).
    pub succeeded: u32,
    /// The error that ended the response, if any.
    pub error: Option<ServerErrorInfo>,
    /// Status flags of the last OK/EOF seen, when one was seen.
    pub status: Option<StatusFlags>,
    /// What a COM_STMT_PREPARE's prepare-OK said.
    pub prepared: Option<PreparedOk>,
}

/// The head of a prepare-OK: the statement's id and what its executions will involve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreparedOk {
    pub statement_id: u32,
    /// Columns of the result set an execution returns (0: none, just an OK).
    pub columns: u16,
    pub params: u16,
}

/// What the caller does after feeding a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// More packets of this response follow.
    More,
    /// That packet was a row; more packets follow.
    Row,
    /// The server asked for a LOCAL INFILE: relay the client's file packets (up to and including
    /// an empty one), then keep feeding the server's reply.
    LocalInfile,
    /// The response is complete.
    Done(Outcome),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the first packet of a result (OK, ERR, LOCAL INFILE or a column count).
    ResultStart,
    /// Reading `remaining` column definitions; `then` says what follows them.
    Columns { remaining: u64, then: AfterColumns },
    /// Waiting for the EOF that ends column definitions in the pre-DEPRECATE_EOF protocol.
    ColumnsEof { then: AfterColumns },
    /// Reading rows up to the terminator.
    Rows,
    /// COM_STMT_PREPARE: waiting for the prepare-OK that counts parameters and columns.
    PrepareOk,
    /// COM_FIELD_LIST: column definitions, however many, up to an EOF.
    FieldDefinitions,
    /// A response of exactly one packet.
    Single,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterColumns {
    Rows,
    PrepareColumns { columns: u64 },
    Done,
}

/// Follows one command's response, packet by packet.
#[derive(Debug)]
pub struct ResponseTracker {
    caps: CapabilityFlags,
    state: State,
    outcome: Outcome,
}

const OK: u8 = 0x00;
const EOF: u8 = 0xfe;
const ERR: u8 = 0xff;
const LOCAL_INFILE: u8 = 0xfb;
/// MariaDB sends progress reports as ERR packets with this code; they are not errors.
const PROGRESS_REPORT_CODE: u16 = 0xffff;

impl ResponseTracker {
    /// Starts tracking the reply to a command of the given shape. `caps` are the capabilities
    /// negotiated by client and server (CLIENT_DEPRECATE_EOF changes how result sets end).
    pub fn new(shape: ReplyShape, caps: CapabilityFlags) -> Self {
        let state = match shape {
            ReplyShape::ResultSets => State::ResultStart,
            ReplyShape::Prepare => State::PrepareOk,
            ReplyShape::FieldList => State::FieldDefinitions,
            ReplyShape::Rows => State::Rows,
            ReplyShape::Single | ReplyShape::None | ReplyShape::Authentication => State::Single,
        };
        Self {
            caps,
            state,
            outcome: Outcome::default(),
        }
    }

    fn deprecate_eof(&self) -> bool {
        self.caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF)
    }

    /// Feeds the next packet of the response.
    pub fn feed(&mut self, packet: &[u8]) -> Result<Step, ProtocolError> {
        let first = *packet.first().ok_or(ProtocolError::Malformed {
            what: "empty response",
        })?;
        if first == ERR {
            return self.on_err(packet);
        }
        match self.state {
            State::Single => {
                if first == OK || (first == EOF && packet.len() < 9) {
                    self.outcome.status = self.status_of(packet);
                }
                self.outcome.succeeded += 1;
                Ok(self.finish())
            }
            State::ResultStart => match first {
                OK => {
                    let status = self.ok_status(packet)?;
                    self.end_result(status)
                }
                LOCAL_INFILE => Ok(Step::LocalInfile),
                _ => {
                    let columns = read_lenenc(packet).ok_or(ProtocolError::Malformed {
                        what: "column count",
                    })?;
                    self.state = State::Columns {
                        remaining: columns,
                        then: AfterColumns::Rows,
                    };
                    Ok(Step::More)
                }
            },
            State::FieldDefinitions => {
                if self.is_terminator(packet) {
                    self.outcome.status = self.status_of(packet);
                    self.outcome.succeeded += 1;
                    return Ok(self.finish());
                }
                Ok(Step::More)
            }
            State::Columns { remaining, then } => {
                let remaining = remaining.saturating_sub(1);
                self.state = State::Columns { remaining, then };
                if remaining == 0 {
                    self.after_column_defs(then)
                } else {
                    Ok(Step::More)
                }
            }
            State::ColumnsEof { then } => {
                if !self.is_terminator(packet) {
                    return Err(ProtocolError::Malformed {
                        what: "end of column definitions",
                    });
                }
                let status = self.status_of(packet);
                match then {
                    AfterColumns::Rows => {
                        // A cursor was opened: rows come later through COM_STMT_FETCH.
                        if status
                            .is_some_and(|s| s.contains(StatusFlags::SERVER_STATUS_CURSOR_EXISTS))
                        {
                            self.outcome.status = status;
                            self.outcome.succeeded += 1;
                            return Ok(self.finish());
                        }
                        self.state = State::Rows;
                        Ok(Step::More)
                    }
                    AfterColumns::PrepareColumns { columns } => self.prepare_columns(columns),
                    AfterColumns::Done => {
                        self.outcome.succeeded += 1;
                        Ok(self.finish())
                    }
                }
            }
            State::Rows => {
                if self.is_terminator(packet) {
                    let status = self.status_of(packet).ok_or(ProtocolError::Malformed {
                        what: "end of rows",
                    })?;
                    self.end_result(status)
                } else {
                    Ok(Step::Row)
                }
            }
            State::PrepareOk => {
                // The prepare-OK: [00] stmt_id(4) num_columns(2) num_params(2) ...
                if first != OK || packet.len() < 9 {
                    return Err(ProtocolError::Malformed { what: "prepare OK" });
                }
                let ok = PreparedOk {
                    statement_id: u32::from_le_bytes([packet[1], packet[2], packet[3], packet[4]]),
                    columns: u16::from_le_bytes([packet[5], packet[6]]),
                    params: u16::from_le_bytes([packet[7], packet[8]]),
                };
                self.outcome.prepared = Some(ok);
                let columns_n = u64::from(ok.columns);
                let params_n = u64::from(ok.params);
                if params_n > 0 {
                    self.state = State::Columns {
                        remaining: params_n,
                        then: AfterColumns::PrepareColumns { columns: columns_n },
                    };
                    Ok(Step::More)
                } else {
                    self.prepare_columns(columns_n)
                }
            }
        }
    }

    fn after_column_defs(&mut self, then: AfterColumns) -> Result<Step, ProtocolError> {
        if !self.deprecate_eof() {
            self.state = State::ColumnsEof { then };
            return Ok(Step::More);
        }
        match then {
            AfterColumns::Rows => {
                self.state = State::Rows;
                Ok(Step::More)
            }
            AfterColumns::PrepareColumns { columns } => self.prepare_columns(columns),
            AfterColumns::Done => {
                self.outcome.succeeded += 1;
                Ok(self.finish())
            }
        }
    }

    fn prepare_columns(&mut self, columns: u64) -> Result<Step, ProtocolError> {
        if columns == 0 {
            self.outcome.succeeded += 1;
            return Ok(self.finish());
        }
        self.state = State::Columns {
            remaining: columns,
            then: AfterColumns::Done,
        };
        Ok(Step::More)
    }

    fn on_err(&mut self, packet: &[u8]) -> Result<Step, ProtocolError> {
        let code = match packet {
            [_, lo, hi, ..] => u16::from_le_bytes([*lo, *hi]),
            _ => return Err(ProtocolError::Malformed { what: "ERR" }),
        };
        if code == PROGRESS_REPORT_CODE {
            return Ok(Step::More);
        }
        let mut buf = ParseBuf(&packet[3..]);
        let protocol_41 = self.caps.contains(CapabilityFlags::CLIENT_PROTOCOL_41);
        let err: ServerError<'_> = buf
            .parse((code, protocol_41))
            .map_err(|_| ProtocolError::Malformed { what: "ERR" })?;
        self.outcome.error = Some(ServerErrorInfo {
            code,
            sql_state: err
                .sql_state_ref()
                .map(|s| s.as_str().into_owned())
                .unwrap_or_default(),
            message: err.message_str().into_owned(),
        });
        Ok(self.finish())
    }

    /// Ends one result; another follows when the server says SERVER_MORE_RESULTS_EXISTS.
    fn end_result(&mut self, status: StatusFlags) -> Result<Step, ProtocolError> {
        self.outcome.succeeded += 1;
        self.outcome.status = Some(status);
        if status.contains(StatusFlags::SERVER_MORE_RESULTS_EXISTS) {
            self.state = State::ResultStart;
            Ok(Step::More)
        } else {
            Ok(self.finish())
        }
    }

    fn finish(&mut self) -> Step {
        Step::Done(std::mem::take(&mut self.outcome))
    }

    /// An EOF packet (or, with CLIENT_DEPRECATE_EOF, the OK that replaces it). A row can also
    /// start with 0xFE, but only as the prefix of a length of 2^24 or more, so such a row packet
    /// is always longer than any terminator.
    fn is_terminator(&self, packet: &[u8]) -> bool {
        packet.first() == Some(&EOF)
            && if self.deprecate_eof() {
                packet.len() < 0xff_ffff
            } else {
                packet.len() < 9
            }
    }

    fn ok_status(&self, packet: &[u8]) -> Result<StatusFlags, ProtocolError> {
        ParseBuf(packet)
            .parse::<OkPacketDeserializer<'_, CommonOkPacket>>(self.caps)
            .map(|ok| ok.into_inner().status_flags())
            .map_err(|_| ProtocolError::Malformed { what: "OK" })
    }

    /// Status flags of an EOF or terminating OK packet.
    fn status_of(&self, packet: &[u8]) -> Option<StatusFlags> {
        match *packet.first()? {
            OK => self.ok_status(packet).ok(),
            EOF if packet.len() < 9 => {
                // Classic EOF: [fe] warnings(2) status(2)
                let bits = u16::from_le_bytes([*packet.get(3)?, *packet.get(4)?]);
                Some(StatusFlags::from_bits_truncate(bits))
            }
            EOF => ParseBuf(packet)
                .parse::<OkPacketDeserializer<'_, ResultSetTerminator>>(self.caps)
                .ok()
                .map(|ok| ok.into_inner().status_flags()),
            _ => None,
        }
    }
}

/// A length-encoded integer at the start of `buf`.
fn read_lenenc(buf: &[u8]) -> Option<u64> {
    let (&first, rest) = buf.split_first()?;
    let width = match first {
        0..=0xfa => return Some(u64::from(first)),
        0xfc => 2,
        0xfd => 3,
        0xfe => 8,
        _ => return None,
    };
    let bytes = rest.get(..width)?;
    let mut le = [0u8; 8];
    le[..width].copy_from_slice(bytes);
    Some(u64::from_le_bytes(le))
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
