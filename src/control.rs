//! Control connections: replaygate's own connections to the target (and its replicas), beside
//! the sessions it relays — the adaptive throttle's load readings and the operator's
//! consistency checks. The data path passes the client's authentication through and stores no
//! password; these connections are the one exception and log in with an account of their own.

use mysql_async::Opts;

use crate::config::Target;

/// How a control connection reaches `target` as `user`.
pub fn opts(target: &Target, user: &str, password: Option<&str>) -> Opts {
    let builder = mysql_async::OptsBuilder::default()
        .user(Some(user))
        .pass(password);
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
