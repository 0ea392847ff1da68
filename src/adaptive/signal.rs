//! Reading the load signal over a control connection of replaygate's own.

use std::time::Duration;

use super::{AdaptiveSettings, Signal};
use crate::config::Target;

/// Errors of the control connection (logged and retried, never fatal).
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

pub(super) fn opts(target: &Target, settings: &AdaptiveSettings) -> mysql_async::Opts {
    let builder = mysql_async::OptsBuilder::default()
        .user(Some(settings.user.clone()))
        .pass(settings.password.clone());
    let builder = match target {
        Target::Unix(path) => builder.socket(Some(path.to_string_lossy().into_owned())),
        Target::Tcp(addr) => {
            let (host, port) = addr
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.to_owned(), p.parse().ok()?)))
                .unwrap_or_else(|| (addr.clone(), 3306));
            builder
                .ip_or_hostname(host)
                .tcp_port(port)
                .prefer_socket(false)
        }
    };
    builder.into()
}

pub(super) async fn read_signal(
    conn: &mut mysql_async::Conn,
    settings: &AdaptiveSettings,
) -> Result<f64, ReadError> {
    use mysql_async::prelude::Queryable;
    let text: Option<String> = match settings.signal {
        Signal::ThreadsRunning => {
            conn.query_first::<(String, Option<String>), _>(
                "SHOW GLOBAL STATUS LIKE 'Threads_running'",
            )
            .await?
            .ok_or(ReadError::NoRow)?
            .1
        }
        Signal::Query => conn
            .query_first::<Option<String>, _>(settings.query.as_deref().unwrap_or_default())
            .await?
            .ok_or(ReadError::NoRow)?,
    };
    let text = text.unwrap_or_default();
    text.trim().parse().map_err(|_| ReadError::NotANumber(text))
}
