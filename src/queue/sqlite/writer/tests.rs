//! The writer thread's batches, claims and recovery, on a real file.

use rusqlite::params;

use super::*;
use crate::queue::contract::ClaimRequest;
use crate::queue::job::{DeliveryId, Inserted, NewJob};
use crate::queue::sqlite::tests::{new_job, temp_store};

/// A workers' claim of up to ten targets.
fn claim_ten() -> Batch {
    Batch {
        claim: Some(ClaimRequest {
            limit: 10,
            lease: Duration::from_secs(30),
            expire_leases: false,
        }),
        ..Batch::default()
    }
}

/// Two batches handed over together, the first of which fails (a claim meets a row it
/// cannot read): the second is written, and nothing of the first is.
#[tokio::test]
async fn a_failing_batch_is_rolled_back_alone() {
    let (store, dir) = temp_store(true).await;
    sqlx::raw_sql(
        "INSERT INTO deliveries (id, idempotency_key, source, event_id, conversation_id, target, \
                                 attributes, status, run_at, received_at, updated_at) \
         VALUES ('0190f0c4-9f7e-7000-8000-000000000001', 'crm:event:bad', 'crm', 'bad', 'c1', \
                 'c1/*', 'not json', 'pending', 0, 0, 0)",
    )
    .execute(&store.readers)
    .await
    .expect("an unreadable job");
    let claim = claim_ten();
    let job = new_job("good", "c2", "v");
    let intake = Batch {
        inserts: vec![job.clone()],
        ..Batch::default()
    };

    let mut conn = Connection::open(dir.join("bridge.db")).expect("connection");
    let mut open = OpenJobs::load(&conn, HELD_AT_MOST).expect("open jobs");
    let results = write_batches(&mut conn, &mut open, &[&claim, &intake]).expect("written");

    assert!(
        matches!(&results[0], Err(StoreError::Corrupt(_))),
        "{:?}",
        results[0]
    );
    let inserted = &results[1].as_ref().expect("the intake's batch").inserted;
    assert_eq!(inserted, &vec![Inserted::New(job.id)]);
    // The failed transaction's changes to the queue order were thrown away with it: the
    // order holds both jobs, pending, as the rows do.
    assert_eq!(open.len(), 2);
    assert_eq!(open.due_jobs("c2/*", i64::MAX), vec![job.id]);
    let (status, attempts): (String, i64) = conn
        .query_row(
            "SELECT status, attempts FROM deliveries WHERE event_id = 'bad'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the unreadable job");
    assert_eq!(
        (status.as_str(), attempts),
        ("pending", 0),
        "the claim was undone"
    );
    let stored: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM deliveries WHERE idempotency_key = 'crm:event:good'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(stored, 1);
    drop(conn);
    let _ = std::fs::remove_dir_all(dir);
}

/// A backlog larger than the order holds waits in the file; a claim takes the held jobs,
/// the oldest, and the next transaction with room reads the rest.
#[tokio::test]
async fn a_backlog_beyond_the_order_is_claimed_oldest_first() {
    let (_store, dir) = temp_store(true).await;
    let mut conn = Connection::open(dir.join("bridge.db")).expect("connection");
    let mut open = OpenJobs::load(&conn, 3).expect("open jobs");
    let jobs: Vec<NewJob> = (0..7)
        .map(|i| new_job(&format!("e{i}"), "c1", &i.to_string()))
        .collect();
    let intake = Batch {
        inserts: jobs.clone(),
        ..Batch::default()
    };
    write_batches(&mut conn, &mut open, &[&intake]).expect("written");
    assert_eq!(open.len(), 3);
    assert!(open.has_more_in_file());

    let claim = claim_ten();
    let results = write_batches(&mut conn, &mut open, &[&claim]).expect("written");
    let claimed = &results[0].as_ref().expect("claimed").claimed;
    let ids: Vec<DeliveryId> = claimed[0].jobs.iter().map(|j| j.id).collect();
    assert_eq!(ids, vec![jobs[0].id, jobs[1].id, jobs[2].id]);

    // Room for the rest once the claimed jobs are gone (the order's limit is 3 here).
    for id in ids {
        open.remove(id, "c1/*");
    }
    write_batches(&mut conn, &mut open, &[&Batch::default()]).expect("written");
    assert_eq!(
        open.due_jobs("c1/*", i64::MAX),
        vec![jobs[3].id, jobs[4].id, jobs[5].id]
    );
    drop(conn);
    let _ = std::fs::remove_dir_all(dir);
}

/// A row the order cannot read back from the file fails no one's batch: the intake goes on.
#[tokio::test]
async fn an_unreadable_job_in_the_file_does_not_stop_the_intake() {
    let (_store, dir) = temp_store(true).await;
    let mut conn = Connection::open(dir.join("bridge.db")).expect("connection");
    // Room for three: the refill below reads three rows, the last of them unreadable.
    let mut open = OpenJobs::load(&conn, 3).expect("open jobs");
    let held: Vec<NewJob> = (0..3)
        .map(|i| new_job(&format!("e{i}"), "c1", &i.to_string()))
        .collect();
    let mut inserts = held.clone();
    inserts.push(new_job("e3", "c1", "3"));
    let intake = Batch {
        inserts,
        ..Batch::default()
    };
    write_batches(&mut conn, &mut open, &[&intake]).expect("written");
    conn.execute(
        "INSERT INTO deliveries (id, idempotency_key, source, event_id, conversation_id, target, \
         attributes, status, run_at, received_at, updated_at) \
         VALUES ('zz-not-an-id', 'crm:event:bad', 'crm', 'bad', 'c1', 'c1/*', '{}', 'pending', 0, 0, 0)",
        [],
    )
    .expect("an unreadable job after the one in the file");
    for job in &held {
        open.remove(job.id, "c1/*");
    }

    let later = Batch {
        inserts: vec![new_job("e4", "c1", "4")],
        ..Batch::default()
    };
    let results = write_batches(&mut conn, &mut open, &[&later]).expect("written");

    assert!(
        results[0].as_ref().is_ok_and(|r| r.inserted.len() == 1),
        "{:?}",
        results[0]
    );
    drop(conn);
    let _ = std::fs::remove_dir_all(dir);
}

/// An order that could not be read again is read before the next transaction: a job it
/// missed is not left waiting for a restart.
#[tokio::test]
async fn an_order_that_could_not_be_read_again_is_read_before_the_next_transaction() {
    let (_store, dir) = temp_store(true).await;
    let mut conn = Connection::open(dir.join("bridge.db")).expect("connection");
    let mut open = OpenJobs::load(&conn, HELD_AT_MOST).expect("open jobs");
    const ROW: &str = "INSERT INTO deliveries (id, idempotency_key, source, event_id, conversation_id, target, \
                       attributes, status, run_at, received_at, updated_at) \
                       VALUES (?1, ?2, 'crm', 'e', 'c1', 'c1/*', '{\"k\":\"v\"}', 'pending', 0, 0, 0)";
    conn.execute(ROW, params!["not-an-id", "crm:event:bad"])
        .expect("an unreadable id");
    reload(&conn, &mut open);
    assert!(open.is_stale());

    conn.execute("DELETE FROM deliveries", [])
        .expect("repaired");
    let id = DeliveryId::new();
    conn.execute(ROW, params![id.to_string(), "crm:event:good"])
        .expect("a job the order missed");
    let claim = claim_ten();
    let results = write_batches(&mut conn, &mut open, &[&claim]).expect("written");

    let claimed = &results[0].as_ref().expect("the claim").claimed;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].jobs[0].id, id);
    assert!(!open.is_stale());
    drop(conn);
    let _ = std::fs::remove_dir_all(dir);
}
