use rusqlite::{params, Connection};
use std::time::Instant;
fn cpu() -> f64 { unsafe { let mut r: libc::rusage = std::mem::zeroed(); libc::getrusage(libc::RUSAGE_THREAD, &mut r);
  (r.ru_utime.tv_sec as f64 + r.ru_stime.tv_sec as f64) * 1e6 + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) as f64 } }
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = &args[1]; let variant = args[2].as_str(); let n: usize = args[3].parse().unwrap();
    let conn = Connection::open(path).unwrap();
    let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).unwrap();
    let sync = if variant.contains("normal") { "NORMAL" } else { "FULL" };
    conn.execute_batch(&format!("PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON;")).unwrap();
    if variant.contains("partial") {
        conn.execute_batch("DROP INDEX IF EXISTS messages_revisions; CREATE INDEX messages_revisions ON messages (room, coalesce(replaces, retracts), seq) WHERE coalesce(replaces, retracts) IS NOT NULL;").unwrap();
    }
    if variant.contains("wor") {
        let sql: String = conn.query_row("SELECT sql FROM sqlite_master WHERE name = 'messages'", [], |r| r.get(0)).unwrap();
        let idx: Vec<String> = conn.prepare("SELECT sql FROM sqlite_master WHERE tbl_name = 'messages' AND type = 'index' AND sql IS NOT NULL").unwrap().query_map([], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect();
        conn.execute_batch("DROP TABLE messages").unwrap();
        conn.execute_batch(&format!("{sql} WITHOUT ROWID")).unwrap();
        for i in idx { conn.execute_batch(&i).unwrap(); }
        let rp: String = conn.query_row("SELECT sql FROM sqlite_master WHERE name = 'read_positions'", [], |r| r.get(0)).unwrap();
        conn.execute_batch(&format!("DROP TABLE read_positions; {rp} WITHOUT ROWID")).unwrap();
    }
    if variant.contains("mmap") { let _: i64 = conn.query_row("PRAGMA mmap_size = 268435456", [], |r| r.get(0)).unwrap(); }
    if variant.contains("nosearch") { conn.execute_batch("DROP INDEX IF EXISTS message_search_rows_message").unwrap(); }
    if variant.contains("cache") { conn.execute_batch("PRAGMA cache_size = -32000").unwrap(); }
    // rooms
    for r in 0..200 { conn.execute("INSERT OR IGNORE INTO rooms (id, town, kind, title, created_at, last_seq) VALUES (?1, 't', 'team', 'x', 0, 0)", params![format!("room-{r:04}")]).ok(); }
    let mut seqs = vec![0i64; 200];
    for r in 0..200 { seqs[r] = conn.query_row("SELECT last_seq FROM rooms WHERE id = ?1", [format!("room-{r:04}")], |x| x.get(0)).unwrap_or(0); }
    let body = "夜間に発熱あり、解熱剤を使用。ご家族より相談あり、ケアマネジャーへ報告した";
    let t0 = Instant::now(); let c0 = cpu();
    let mut x: u64 = 12345;
    let mut incommit = 0.0f64; let mut infsync_wall = 0u128;
    for i in 0..n {
        let cc0 = cpu();
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        let r = (x % 200) as usize; let room = format!("room-{r:04}"); let user = format!("user-{:04}", r * 10 + (x as usize / 200) % 10);
        seqs[r] += 1; let seq = seqs[r];
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        let _: Option<(i64,i64)> = conn.prepare_cached("SELECT last_seq, members_version FROM rooms WHERE id = ?1").unwrap().query_row([&room], |r| Ok((r.get(0)?, r.get(1)?))).ok();
        let _: Option<(i64,i64)> = conn.prepare_cached("SELECT seq, at FROM read_positions WHERE room = ?1 AND user_id = ?2").unwrap().query_row([&room, &user], |r| Ok((r.get(0)?, r.get(1)?))).ok();
        conn.prepare_cached("UPDATE rooms SET last_seq = ?2 WHERE id = ?1").unwrap().execute(params![room, seq]).unwrap();
        conn.prepare_cached("INSERT INTO messages (room, seq, id, client_id, author_id, author_name, author_profession, author_org, kind, body, at, priority, mentions, replaces, retracts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)").unwrap()
          .execute(params![room, seq, format!("01JXYZ{:020}", i + 1_000_000 * (std::process::id() as usize)), format!("c-{i}-{}", std::process::id()), user, "山田 花子", "nurse", "訪問看護ステーション", "note", body, 1764700000000i64 + i as i64, "normal", "[]", None::<i64>, None::<i64>]).unwrap();
        conn.prepare_cached("INSERT INTO message_search_rows (room, seq) VALUES (?1, ?2)").unwrap().execute(params![room, seq]).unwrap();
        conn.prepare_cached("INSERT INTO read_positions (room, user_id, seq, at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (room, user_id) DO UPDATE SET seq = excluded.seq, at = excluded.at WHERE excluded.seq > read_positions.seq").unwrap().execute(params![room, user, seq, 0]).unwrap();
        let tc = Instant::now(); conn.execute_batch("COMMIT").unwrap(); infsync_wall += tc.elapsed().as_micros();
        incommit += cpu() - cc0;
        if variant.contains("spin") { let t = Instant::now(); while t.elapsed().as_micros() < 5000 { std::hint::spin_loop(); } }
        if variant.contains("sleep") { std::thread::sleep(std::time::Duration::from_millis(5)); }
    }
    let c1 = cpu(); let el = t0.elapsed();
    println!("{variant}: {n} commits, cpu {:.1} us/commit (in txn {:.1}), wall {:.1} us/commit, COMMIT wall {:.1}", (c1 - c0) / n as f64, incommit / n as f64, el.as_micros() as f64 / n as f64, infsync_wall as f64 / n as f64);
}
