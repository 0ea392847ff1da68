//! Reading a load signal from the target over a control connection of replaygate's own
//! (`threads_running`, `query`).

use std::time::Duration;

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use crate::control::TargetControl;

/// Errors of a control connection (logged and retried, never fatal).
#[derive(Debug, thiserror::Error)]
pub(super) enum ReadError {
    #[error(transparent)]
    Mysql(#[from] mysql_async::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the load query returned no row")]
    NoRow,
    #[error("the load query returned {0:?}, not a number")]
    NotANumber(String),
}

/// What is read from the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TargetProbe {
    /// `SHOW GLOBAL STATUS LIKE 'Threads_running'`.
    ThreadsRunning,
    /// The operator's query; the first column of its first row.
    Query(String),
}

/// The control connection to the target for `threads_running` and `query`.
#[derive(Debug)]
pub(super) struct TargetSignal {
    probe: TargetProbe,
    control: TargetControl,
    conn: Option<Conn>,
}

impl TargetSignal {
    pub fn new(probe: TargetProbe, control: TargetControl) -> Self {
        Self {
            probe,
            control,
            conn: None,
        }
    }

    /// One reading. A hung target (or network) must not freeze the controller in its last
    /// decision without a word: a reading that takes longer than `timeout` fails.
    pub async fn read(&mut self, timeout: Duration) -> Result<f64, ReadError> {
        let reading = tokio::time::timeout(timeout, async {
            let conn = match &mut self.conn {
                Some(conn) => conn,
                None => self.conn.insert(self.control.connect().await?),
            };
            read_signal(conn, &self.probe).await
        })
        .await
        .unwrap_or(Err(ReadError::Timeout(timeout)));
        if matches!(reading, Err(ReadError::Mysql(_) | ReadError::Timeout(_))) {
            // Reconnect at the next reading.
            self.conn = None;
        }
        reading
    }
}

async fn read_signal(conn: &mut Conn, probe: &TargetProbe) -> Result<f64, ReadError> {
    let text: Option<String> = match probe {
        TargetProbe::ThreadsRunning => {
            conn.query_first::<(String, Option<String>), _>(
                "SHOW GLOBAL STATUS LIKE 'Threads_running'",
            )
            .await?
            .ok_or(ReadError::NoRow)?
            .1
        }
        TargetProbe::Query(query) => conn
            .query_first::<Option<String>, _>(query.as_str())
            .await?
            .ok_or(ReadError::NoRow)?,
    };
    let text = text.unwrap_or_default();
    text.trim().parse().map_err(|_| ReadError::NotANumber(text))
}
