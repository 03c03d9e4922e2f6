//! A real DNS server on a loopback UDP port for the domain tests: hickory-proto encodes and
//! decodes the wire format; the zone is a map the test edits while Lanyard's real resolver
//! (hickory-resolver) queries it. It can also answer SERVFAIL or stay silent (timeouts).

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{CNAME, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;

#[derive(Default)]
struct Zone {
    txt: HashMap<String, Vec<Vec<String>>>,
    cname: HashMap<String, String>,
    servfail: HashSet<String>,
    silent: HashSet<String>,
}

/// The server; dropped with the test.
pub struct TestDns {
    pub addr: SocketAddr,
    zone: Arc<Mutex<Zone>>,
    task: tokio::task::JoinHandle<()>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl TestDns {
    pub async fn start() -> TestDns {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let zone: Arc<Mutex<Zone>> = Arc::default();
        let z = zone.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let Ok(req) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                if let Some(resp) = answer(&z, &req) {
                    let _ = socket.send_to(&resp.to_vec().unwrap(), peer).await;
                }
            }
        });
        TestDns { addr, zone, task }
    }

    /// Publishes one TXT record at `name` made of `strings` (several strings = one split value).
    pub fn add_txt(&self, name: &str, strings: &[&str]) {
        self.zone
            .lock()
            .unwrap()
            .txt
            .entry(key(name))
            .or_default()
            .push(strings.iter().map(|s| s.to_string()).collect());
    }

    /// Removes every record at `name`.
    pub fn clear(&self, name: &str) {
        let mut z = self.zone.lock().unwrap();
        z.txt.remove(&key(name));
        z.cname.remove(&key(name));
        z.servfail.remove(&key(name));
        z.silent.remove(&key(name));
    }

    pub fn add_cname(&self, name: &str, target: &str) {
        self.zone
            .lock()
            .unwrap()
            .cname
            .insert(key(name), key(target));
    }

    pub fn servfail(&self, name: &str) {
        self.zone.lock().unwrap().servfail.insert(key(name));
    }

    pub fn silent(&self, name: &str) {
        self.zone.lock().unwrap().silent.insert(key(name));
    }
}

impl Drop for TestDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn answer(zone: &Mutex<Zone>, req: &Message) -> Option<Message> {
    let q = req.queries.first()?.clone();
    let qname = key(&q.name.to_ascii());
    let z = zone.lock().unwrap();
    if z.silent.contains(&qname) {
        return None;
    }
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.message_type = MessageType::Response;
    resp.metadata.authoritative = true;
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    resp.add_query(q.clone());
    if z.servfail.contains(&qname) {
        resp.metadata.response_code = ResponseCode::ServFail;
        return Some(resp);
    }
    let mut name = qname.clone();
    let mut owner = q.name.clone();
    // Follow CNAMEs within the zone, as an authoritative server with both names would.
    for _ in 0..8 {
        match z.cname.get(&name) {
            Some(target) => {
                let t = Name::from_ascii(format!("{target}.")).unwrap();
                resp.add_answer(Record::from_rdata(
                    owner.clone(),
                    60,
                    RData::CNAME(CNAME(t.clone())),
                ));
                owner = t;
                name = target.clone();
            }
            None => break,
        }
    }
    match (z.txt.get(&name), q.query_type) {
        (Some(records), RecordType::TXT) => {
            for strings in records {
                resp.add_answer(Record::from_rdata(
                    owner.clone(),
                    60,
                    RData::TXT(TXT::new(strings.clone())),
                ));
            }
        }
        (Some(_), _) => {}
        (None, _) if resp.answers.is_empty() => {
            resp.metadata.response_code = ResponseCode::NXDomain
        }
        (None, _) => {}
    }
    Some(resp)
}
