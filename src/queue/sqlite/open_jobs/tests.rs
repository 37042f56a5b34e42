//! The queue order: which targets are due, in which order, and how it refills from the file.

use super::*;

fn ids(n: usize) -> Vec<DeliveryId> {
    let mut ids: Vec<DeliveryId> = (0..n).map(|_| DeliveryId::new()).collect();
    ids.sort();
    ids
}

#[test]
fn a_target_is_due_while_its_oldest_job_is_pending_and_due() {
    let mut open = OpenJobs::new(usize::MAX);
    let id = ids(3);
    open.add(id[0], "a", 100);
    open.add(id[1], "a", 50);
    open.add(id[2], "b", 80);

    // a's head is due at 100, b's at 80.
    assert_eq!(open.due_targets(79, 10), Vec::<Arc<str>>::new());
    assert_eq!(open.due_targets(99, 10), vec![Arc::<str>::from("b")]);
    assert_eq!(
        open.due_targets(100, 10),
        vec![Arc::<str>::from("b"), Arc::<str>::from("a")]
    );
    assert_eq!(open.due_targets(100, 1), vec![Arc::<str>::from("b")]);
    // Behind a's head, a job due earlier is due, but the target is not claimable before its head is.
    assert_eq!(open.due_jobs("a", 60), vec![id[1]]);
    assert_eq!(open.due_jobs("a", 100), vec![id[0], id[1]]);
}

#[test]
fn a_target_whose_head_is_in_flight_is_not_due_until_the_head_finishes() {
    let mut open = OpenJobs::new(usize::MAX);
    let id = ids(2);
    open.add(id[0], "a", 0);
    open.leased(id[0], "a", 1_000);
    open.add(id[1], "a", 0);

    assert!(open.due_targets(10, 10).is_empty());
    assert_eq!(
        open.due_jobs("a", 10),
        vec![id[1]],
        "a top-up still finds it"
    );

    open.remove(id[0], "a");
    assert_eq!(open.due_targets(10, 10), vec![Arc::<str>::from("a")]);
    open.remove(id[1], "a");
    assert!(open.due_targets(10, 10).is_empty());
    assert_eq!(open.len(), 0);
    assert!(
        open.targets.is_empty(),
        "a target without jobs is forgotten"
    );
}

#[test]
fn a_retried_job_waits_for_its_new_run_at_and_holds_its_target_back() {
    let mut open = OpenJobs::new(usize::MAX);
    let id = ids(2);
    open.add(id[0], "a", 0);
    open.add(id[1], "a", 0);
    open.leased(id[0], "a", 1_000);
    open.pending(id[0], "a", Some(500));

    assert!(open.due_targets(499, 10).is_empty());
    assert_eq!(open.due_targets(500, 10), vec![Arc::<str>::from("a")]);
}

#[test]
fn a_full_order_leaves_later_jobs_in_the_file() {
    let mut open = OpenJobs::new(3);
    let id = ids(6);
    for id in &id[1..] {
        open.add(*id, "a", 0);
    }

    assert_eq!(open.len(), 3);
    assert!(open.has_more_in_file());
    assert_eq!(open.due_jobs("a", 0), vec![id[1], id[2], id[3]]);
    open.add(id[0], "a", 0);
    assert_eq!(
        open.due_jobs("a", 0),
        vec![id[0], id[1], id[2], id[3]],
        "a job older than the file's (a replayed dead letter) is still held"
    );
}

/// The columns the order reads, and the index it reads them by.
fn file() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE deliveries (id TEXT PRIMARY KEY, target TEXT NOT NULL, run_at INTEGER NOT NULL, \
         status TEXT NOT NULL, lease_until INTEGER, finished_at INTEGER); \
         CREATE INDEX deliveries_open ON deliveries (id) WHERE finished_at IS NULL;",
    )
    .unwrap();
    conn
}

fn store(conn: &Connection, id: DeliveryId, target: &str) {
    conn.execute(
        "INSERT INTO deliveries (id, target, run_at, status) VALUES (?1, ?2, 0, 'pending')",
        rusqlite::params![id.to_string(), target],
    )
    .unwrap();
}

fn finish(conn: &Connection, open: &mut OpenJobs, id: DeliveryId, target: &str) {
    conn.execute(
        "UPDATE deliveries SET finished_at = 1, status = 'delivered' WHERE id = ?1",
        [id.to_string()],
    )
    .unwrap();
    open.remove(id, target);
}

#[test]
fn jobs_left_in_the_file_join_the_order_oldest_first_as_it_empties() {
    let conn = file();
    let id = ids(25);
    for (i, id) in id.iter().enumerate() {
        store(&conn, *id, if i % 2 == 0 { "even" } else { "odd" });
    }
    let mut open = OpenJobs::load(&conn, 10).unwrap();
    assert_eq!(open.len(), 10);
    assert!(open.has_more_in_file());

    open.refill(&conn).unwrap();
    assert_eq!(open.len(), 10, "no room: nothing read");

    let mut delivered = Vec::new();
    while open.len() > 0 {
        for target in ["even", "odd"] {
            if let Some(head) = open.due_jobs(target, 0).first().copied() {
                finish(&conn, &mut open, head, target);
                delivered.push(head);
            }
        }
        open.refill(&conn).unwrap();
    }
    let mut expected_even: Vec<_> = id.iter().step_by(2).copied().collect();
    let mut expected_odd: Vec<_> = id.iter().skip(1).step_by(2).copied().collect();
    let delivered_even: Vec<_> = delivered
        .iter()
        .filter(|d| expected_even.contains(d))
        .copied()
        .collect();
    let delivered_odd: Vec<_> = delivered
        .iter()
        .filter(|d| expected_odd.contains(d))
        .copied()
        .collect();
    expected_even.sort();
    expected_odd.sort();
    assert_eq!(
        delivered_even, expected_even,
        "each participant's jobs in order, none missed"
    );
    assert_eq!(delivered_odd, expected_odd);
    assert!(!open.has_more_in_file());
}

#[test]
fn a_lease_ending_at_the_epoch_has_run_out() {
    let mut open = OpenJobs::new(usize::MAX);
    let id = ids(1);
    open.add(id[0], "a", 0);
    open.leased(id[0], "a", 0);

    assert_eq!(open.expired(1), vec![id[0]]);
    assert!(open.due_targets(1, 10).is_empty(), "in flight until then");
}

#[test]
fn only_leases_that_ran_out_are_expired() {
    let mut open = OpenJobs::new(usize::MAX);
    let id = ids(3);
    for (i, id) in id.iter().enumerate() {
        open.add(*id, &format!("t{i}"), 0);
    }
    open.leased(id[0], "t0", 100);
    open.leased(id[1], "t1", 300);

    assert_eq!(open.expired(200), vec![id[0]]);
    open.pending(id[0], "t0", None);
    assert!(open.expired(200).is_empty());
    assert_eq!(
        open.due_targets(200, 10).len(),
        2,
        "t0 is due again beside t2"
    );
}

#[test]
fn changes_to_unknown_jobs_change_nothing() {
    let mut open = OpenJobs::new(usize::MAX);
    let id = ids(2);
    open.add(id[0], "a", 0);
    open.leased(id[1], "a", 100);
    open.pending(id[1], "b", Some(5));
    open.remove(id[1], "a");
    open.remove(id[0], "b");
    assert_eq!(open.len(), 1);
    assert_eq!(open.due_targets(0, 10), vec![Arc::<str>::from("a")]);
}

#[test]
fn a_replayed_job_older_than_the_rest_heads_its_target_again() {
    let mut open = OpenJobs::new(usize::MAX);
    let id = ids(3);
    open.add(id[1], "a", 0);
    open.add(id[2], "a", 0);
    open.leased(id[1], "a", 1_000);
    assert!(open.due_targets(10, 10).is_empty());

    open.add(id[0], "a", 5);
    assert_eq!(open.due_targets(10, 10), vec![Arc::<str>::from("a")]);
    assert_eq!(open.due_jobs("a", 10), vec![id[0], id[2]]);
    open.add(id[0], "a", 5);
    assert_eq!(open.len(), 3, "added twice, held once");
}
