//! A real Prometheus (Debian's package) for tests: started on 127.0.0.1 with a given config and
//! storage directory, queried with instant queries, killed on drop.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{get, get_json};

pub struct Prometheus {
    child: Child,
    pub addr: SocketAddr,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn encode(q: &str) -> String {
    let mut enc = String::new();
    for b in q.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            enc.push(b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    enc
}

impl Prometheus {
    /// Start with `config` (YAML text, written next to `data`) on `data`, and wait until ready.
    pub fn start(config: &str, data: &Path) -> Prometheus {
        let path = data.parent().unwrap().join("prometheus.yml");
        std::fs::write(&path, config).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", path.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg("--storage.tsdb.retention.time=30d")
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (Debian's package; scripts/test.sh installs it)");
        let p = Prometheus { child, addr };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(addr).is_err() || get(addr, "/-/ready").0 != 200 {
            assert!(Instant::now() < deadline, "prometheus did not become ready");
            std::thread::sleep(Duration::from_millis(200));
        }
        p
    }

    /// Whether `q` (at Unix time `at`, or now) returns at least one finite value.
    pub fn has_data(&self, q: &str, at: Option<u64>) -> Result<(), String> {
        let time = at.map_or(String::new(), |t| format!("&time={t}"));
        let v = get_json(
            self.addr,
            &format!("/api/v1/query?query={}{time}", encode(q)),
        );
        if v["status"] != "success" {
            return Err(format!("error: {}", v["error"]));
        }
        let result = &v["data"]["result"];
        let finite = |x: &serde_json::Value| {
            x.as_str()
                .and_then(|x| x.parse::<f64>().ok())
                .is_some_and(f64::is_finite)
        };
        let ok = match v["data"]["resultType"].as_str() {
            Some("scalar") => finite(&result[1]),
            _ => result
                .as_array()
                .unwrap()
                .iter()
                .any(|s| finite(&s["value"][1])),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("no finite value: {result}"))
        }
    }
}
