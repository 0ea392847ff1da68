//! Control connections: replaygate's own connections to the target (and its replicas), beside
//! the sessions it relays — the adaptive throttle's load readings and the operator's
//! consistency checks. The data path passes the client's authentication through and stores no
//! password; these connections are the one exception and log in with an account of their own.
//!
//! To the target they follow `--target-tls` as the data path does (the same CA, the same name
//! checked; `preferred` falls back to clear text only when the target offers no TLS). To a
//! replica (the lag signal) they stay clear text: its certificate is not the target's.

use mysql_async::{ClientIdentity, Conn, DriverError, Opts, SslOpts};

use crate::config::Target;
use crate::tls::TargetTls;

/// How a control connection reaches `target` as `user`, in clear text.
pub fn opts(target: &Target, user: &str, password: Option<&str>) -> Opts {
    builder(target, user, password).into()
}

fn builder(target: &Target, user: &str, password: Option<&str>) -> mysql_async::OptsBuilder {
    let builder = mysql_async::OptsBuilder::default()
        .user(Some(user))
        .pass(password);
    match target {
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
    }
}

/// A control connection to the target, with TLS when `--target-tls` asks for it.
#[derive(Debug, Clone)]
pub struct TargetControl {
    opts: Opts,
    /// `--target-tls preferred`: the same in clear text, for a target that offers no TLS.
    clear_fallback: Option<Opts>,
}

impl TargetControl {
    pub fn new(
        target: &Target,
        user: &str,
        password: Option<&str>,
        tls: Option<&TargetTls>,
    ) -> Self {
        let clear = builder(target, user, password);
        let Some(tls) = tls else {
            return Self {
                opts: clear.into(),
                clear_fallback: None,
            };
        };
        let identity = tls
            .identity
            .as_ref()
            .map(|i| ClientIdentity::new(i.cert.clone().into(), i.key.clone().into()));
        let ssl = SslOpts::default()
            .with_root_certs(vec![tls.ca.clone().into()])
            .with_client_identity(identity)
            .with_disable_built_in_roots(true)
            .with_danger_tls_hostname_override(Some(tls.name.to_str().into_owned()));
        Self {
            opts: clear.clone().ssl_opts(Some(ssl)).into(),
            clear_fallback: (!tls.required).then(|| clear.into()),
        }
    }

    /// Opens a connection.
    pub async fn connect(&self) -> Result<Conn, mysql_async::Error> {
        match (Conn::new(self.opts.clone()).await, &self.clear_fallback) {
            (
                Err(mysql_async::Error::Driver(DriverError::NoClientSslFlagFromServer)),
                Some(clear),
            ) => Conn::new(clear.clone()).await,
            (connected, _) => connected,
        }
    }
}
