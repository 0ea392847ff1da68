//! Certificates for the TLS tests, made with the `openssl` program into a private directory:
//! a CA, and a server certificate it signed for `localhost` and 127.0.0.1 (what both
//! replaygate and the private mariadbd present).

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

pub struct Certificates {
    dir: TempDir,
}

impl Certificates {
    pub fn new() -> Certificates {
        let dir = tempfile::Builder::new().prefix("rgtls").tempdir().unwrap();
        let at = |name: &str| dir.path().join(name).display().to_string();
        std::fs::write(
            dir.path().join("ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .unwrap();
        let steps: [Vec<String>; 3] = [
            [
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=replaygate test CA",
                "-keyout",
            ]
            .map(String::from)
            .into_iter()
            .chain([at("ca.key"), "-out".into(), at("ca.pem")])
            .collect(),
            [
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
            ]
            .map(String::from)
            .into_iter()
            .chain([at("server.key"), "-out".into(), at("server.csr")])
            .collect(),
            vec![
                "x509".into(),
                "-req".into(),
                "-days".into(),
                "2".into(),
                "-in".into(),
                at("server.csr"),
                "-CA".into(),
                at("ca.pem"),
                "-CAkey".into(),
                at("ca.key"),
                "-CAcreateserial".into(),
                "-extfile".into(),
                at("ext"),
                "-out".into(),
                at("server.pem"),
            ],
        ];
        for args in steps {
            let out = Command::new("openssl")
                .args(&args)
                .output()
                .expect("run openssl");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Certificates { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    pub fn cert(&self) -> PathBuf {
        self.path("server.pem")
    }

    pub fn key(&self) -> PathBuf {
        self.path("server.key")
    }

    /// mariadbd flags that give it this certificate.
    pub fn server_args(&self) -> Vec<String> {
        vec![
            format!("--ssl-cert={}", self.cert().display()),
            format!("--ssl-key={}", self.key().display()),
            format!("--ssl-ca={}", self.ca().display()),
        ]
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
