//! Session parameters a client expects to keep while its transactions move between server
//! connections (client_encoding, DateStyle, TimeZone, …).
//!
//! Only parameters the server reports through ParameterStatus are tracked: for those pgDog
//! always knows both what the client believes and what a server currently has, so it can
//! replay exactly the difference with one hidden `SET` when a server is checked out.

pub use crate::backend::server::{is_tracked, tracked_fingerprint, TRACKED};

#[derive(Debug, Default, Clone)]
pub struct ClientParams {
    values: Vec<(String, String)>,
    /// [`tracked_fingerprint`] of `values`.
    fingerprint: u64,
}

impl ClientParams {
    /// Starts from what the server reported at login, overridden by the client's startup
    /// parameters for tracked names.
    pub fn new(server: &[(String, String)], startup: &[(String, String)]) -> Self {
        let mut params = ClientParams {
            values: server.to_vec(),
            fingerprint: 0,
        };
        params.refresh();
        for (name, value) in startup {
            if let Some(canonical) = TRACKED.iter().find(|t| t.eq_ignore_ascii_case(name)) {
                params.set(canonical, value);
            }
        }
        params
    }

    pub fn set(&mut self, name: &str, value: &str) {
        match self.values.iter_mut().find(|(n, _)| n == name) {
            Some(slot) if slot.1 == value => return,
            Some(slot) => slot.1 = value.to_string(),
            None => self.values.push((name.to_string(), value.to_string())),
        }
        if is_tracked(name) {
            self.refresh();
        }
    }

    fn refresh(&mut self) {
        self.fingerprint = tracked_fingerprint(self.iter());
    }

    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.values.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The `SET` statements that make a server's tracked parameters match this client's,
    /// or `None` when they already do.
    pub fn sync_sql(&self, server: &[(String, String)]) -> Option<String> {
        let mut sql = String::new();
        for (name, value) in &self.values {
            if !is_tracked(name) {
                continue;
            }
            let current = server.iter().find(|(n, _)| n == name).map(|(_, v)| v);
            if current != Some(value) {
                sql.push_str(&format!("SET {name} TO '{}';", value.replace('\'', "''")));
            }
        }
        (!sql.is_empty()).then_some(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn only_differences_are_replayed() {
        let server = kv(&[("TimeZone", "UTC"), ("client_encoding", "UTF8")]);
        let client = ClientParams::new(&server, &kv(&[("timezone", "Europe/Paris"), ("x", "y")]));
        assert_eq!(
            client.sync_sql(&server).unwrap(),
            "SET TimeZone TO 'Europe/Paris';"
        );
        let same = ClientParams::new(&server, &[]);
        assert!(same.sync_sql(&server).is_none());
        let quoted = ClientParams::new(&server, &kv(&[("application_name", "it's")]));
        assert!(quoted.sync_sql(&server).unwrap().contains("'it''s'"));
    }
}
