//! For the grader's own unit tests: a server under test, the práctica's
//! server in Python (`tests/fixtures/fake-server.py`), right or with the
//! mistakes a test names, so that a behaviour can be graded against it in
//! a second or two, without the spec suite's whole batch of gradings.

use std::time::Duration;

use super::net::Transport;
use super::verdict::{Failure, Report, Verdict};
use super::{Behaviour, Role, Settings, Subject, behaviours, grade_only};
use crate::protocol::Protocol;

/// The fake server's source.
pub const FAKE_SERVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fake-server.py");

/// The settings of a unit test's grading: its directories under `root`,
/// every behaviour at once, and a brief patience (a behaviour expected to
/// fail by waiting waits that long).
pub fn settings(root: &tempfile::TempDir) -> Settings {
    Settings {
        temp_root: root.path().to_path_buf(),
        jobs: 16,
        patience: Duration::from_secs(2),
        ..Settings::default()
    }
}

/// A server role.
pub const fn server(protocol: Protocol, transport: Transport) -> Role {
    Role::Server {
        protocol,
        transport,
    }
}

/// The fake server, with `mistakes`, in `role`, told its address through
/// the environment (its command has the address's placeholder, as a word
/// it ignores, so that the grader gives each start an address of its
/// own).
pub fn fake_server(role: Role, mistakes: &[&str], settings: Settings) -> Subject {
    let mut words = vec![
        "python3".to_owned(),
        FAKE_SERVER.to_owned(),
        "{file}".to_owned(),
    ];
    if let Role::Server {
        protocol: Protocol::Json,
        ..
    } = role
    {
        words.push("json".to_owned());
    }
    words.extend(mistakes.iter().map(|mistake| (*mistake).to_owned()));
    words.push(format!("address={}", role.transport().placeholder()));
    Subject::new(words, role, settings)
}

/// The behaviours of `role` with these ids, in report order.
pub fn chosen(role: Role, ids: &[&str]) -> Vec<Behaviour> {
    let chosen: Vec<Behaviour> = behaviours(role)
        .into_iter()
        .filter(|behaviour| ids.contains(&behaviour.id))
        .collect();
    assert_eq!(chosen.len(), ids.len(), "no such behaviour among {ids:?}");
    chosen
}

/// Grades the fake server with `mistakes`, in `role`, on the behaviours
/// `ids`.
pub fn grade_fake(role: Role, mistakes: &[&str], ids: &[&str], patience: Duration) -> Report {
    grade_fake_with(role, mistakes, ids, |settings| Settings {
        patience,
        ..settings
    })
}

/// [`grade_fake`], with the settings `adjust` makes of [`settings`].
pub fn grade_fake_with(
    role: Role,
    mistakes: &[&str],
    ids: &[&str],
    adjust: impl FnOnce(Settings) -> Settings,
) -> Report {
    let root = tempfile::tempdir().expect("a temporary directory");
    let subject = fake_server(role, mistakes, adjust(settings(&root)));
    grade_only(&subject, &chosen(role, ids))
}

/// The verdict of behaviour `id` in `report`.
pub fn verdict<'r>(report: &'r Report, id: &str) -> &'r Verdict {
    &report
        .outcome(id)
        .unwrap_or_else(|| panic!("no behaviour {id:?} in {report:?}"))
        .verdict
}

/// The failure of behaviour `id` in `report`; panics if it did not fail.
pub fn failure<'r>(report: &'r Report, id: &str) -> &'r Failure {
    match verdict(report, id) {
        Verdict::Fail(failure) => failure,
        other => panic!("expected {id:?} to fail, got {other:?} in {report:#?}"),
    }
}

/// Checks that every behaviour of `report` passed.
pub fn all_passed(report: &Report) {
    for outcome in &report.outcomes {
        assert_eq!(
            outcome.verdict,
            Verdict::Pass,
            "{}: {report:#?}",
            outcome.id
        );
    }
}
